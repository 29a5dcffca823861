// Package kern holds goformer's SIMD micro-kernels (Go assembly generated
// with avo by ./asmgen) and their pure-Go fallbacks. Package tensor drives
// them: packing, cache blocking and threading live there.
package kern

// The generator type-checks this package; files that use the generated
// functions are excluded from that (tag kerngen) so that a change of
// signature regenerates cleanly.
//
//go:generate sh -c "rm -f kern_amd64.s kern_amd64.go && GOFLAGS=-tags=kerngen go run ./asmgen -out kern_amd64.s -stubs kern_amd64.go"
