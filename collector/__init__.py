"""The cookieless collector: accepts beacons and makes them anonymous at the edge."""
