//go:build race

package main

// raceEnabled slows the time bounds of tests under the race detector.
const raceEnabled = true
