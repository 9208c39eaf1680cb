// The legacy official tracker, exposed to test pages as window.PlausibleLegacy.
import Plausible from 'plausible-tracker'

window.PlausibleLegacy = Plausible
