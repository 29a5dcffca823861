// Package integration holds goformer's cross-package tests: the same loaded
// models used from many goroutines at once (results must equal a sequential
// run, under the race detector), the typed errors every model family
// returns for bad input, cancellation of long transcriptions, bounded memory
// on hour-long audio, and fuzz targets for the whisper writers and config.
//
// The package has no API; everything is in its tests. They read the shared
// test data (see internal/testdata) and skip when it is absent.
package integration
