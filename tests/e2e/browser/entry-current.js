// The current official tracker, exposed to test pages as window.PlausibleCurrent.
import { init, track } from '@plausible-analytics/tracker'

window.PlausibleCurrent = { init, track }
