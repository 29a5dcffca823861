// Package deps pins modules that helpers and generators use before library code imports them.
// It is removed once every dependency is imported by real code.
package deps

import (
	_ "github.com/hajimehoshi/go-mp3"
	_ "github.com/mewkiz/flac"
	_ "github.com/mmcloughlin/avo/build"
	_ "github.com/nlpodyssey/gopickle/pickle"
	_ "github.com/x448/float16"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
	_ "golang.org/x/sys/cpu"
	_ "golang.org/x/text/unicode/norm"
	_ "gonum.org/v1/gonum/blas/blas32"
	_ "gonum.org/v1/gonum/dsp/fourier"
)
