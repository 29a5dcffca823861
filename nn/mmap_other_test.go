//go:build !unix

package nn

// mapsFiles: safetensors files are memory-mapped on this platform.
const mapsFiles = false
