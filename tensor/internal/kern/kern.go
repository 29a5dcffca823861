package kern

// Kernel computes one micro-tile of C = alpha·A·B + beta·C (+ bias):
//
//   - A is read directly from row-major storage: element (i, p) of the tile's
//     A is at a[i*lda+p] (lda in elements), for i < mr (the kernel's row
//     count) and p < kc;
//   - B is a panel of kc rows of NR floats, row p starting bstride bytes after
//     row p−1 (NR*4 for a packed panel, ldb*4 to read a row-major matrix in
//     place);
//   - C rows are ldc elements apart;
//   - mask selects the valid columns of the tile (bit j for column j), so a
//     partial tile neither reads nor writes past its last column (kernels of a
//     set with Masked false ignore it and need full tiles);
//   - flags bit 0: read C (beta applied); clear: C is overwritten and never
//     read; bit 1: add bias[j] (bias points at the tile's first column);
//   - pf is prefetched into L2, one 64-byte line per four steps of k (kc/4
//     lines from pf on; two lines, kc/2, with FlagPF2 in kernels of a set
//     with PF2): callers point it at the panel they use next. It
//     must point into (or at the end of) a live Go object; prefetching never
//     faults, so the lines may run past it.
type Kernel func(kc int, a *float32, lda int, b *float32, bstride int, c *float32, ldc int, alpha, beta float32, bias *float32, mask uint64, flags int, pf *byte)

// HalfKernel is a Kernel whose B panel holds 16-bit floats (IEEE half or
// bfloat16, per the Set field it comes from), widened in registers; bstride
// is still in bytes.
type HalfKernel func(kc int, a *float32, lda int, b *uint16, bstride int, c *float32, ldc int, alpha, beta float32, bias *float32, mask uint64, flags int, pf *byte)

// WideKernel computes one row of C over np full packed panels of B at once
// (np·NR columns; see Set.M1Wide): a is the row's kc values, b the first
// panel's kc rows of NR floats (row after row), the other panels
// following pstride bytes apart, c and bias (when flags has FlagBias) the
// np·NR columns. C = alpha·a·B + beta·C (+ bias) as a Kernel of one row
// computes it, to the bit: a one-row product streams several panels side
// by side.
type WideKernel func(kc int, a *float32, b *float32, pstride int, c *float32, alpha, beta float32, bias *float32, flags int)

// HalfWideKernel is a WideKernel whose panels hold IEEE half floats.
type HalfWideKernel func(kc int, a *float32, b *uint16, pstride int, c *float32, alpha, beta float32, bias *float32, flags int)

// StridedKernel computes one row of C over np·NR columns of B read in
// place (row p of B bstride bytes after row p−1, its np·NR columns
// contiguous): C = alpha·a·B + beta·C (flags: FlagBeta only), bit for bit
// as np calls of a one-row Kernel (see Set.M1Strided).
type StridedKernel func(kc int, a *float32, b *float32, bstride int, c *float32, alpha, beta float32, flags int)

// Flags of a Kernel call. FlagPF2 doubles the prefetch of the next panel
// (see Kernel), for products with too few tiles per panel to fetch all of
// it at one line per four steps; FlagPFB has the kernel prefetch its own B
// panel into L1 a few steps of k ahead (the first tile on a panel that is
// in L2 at best), for a packed panel only (bstride = 4·NR). Kernels of a
// set with PF2 false ignore both, as do those of one row and the half
// kernels.
const (
	FlagBeta = 1 << iota
	FlagBias
	FlagPF2
	FlagPFB
)

// Set is a family of micro-kernels for one instruction set.
type Set struct {
	// Name identifies the set in tests and benchmarks ("avx512", "avx2").
	Name string
	// MR and NR are the tile height and width.
	MR, NR int
	// Masked reports whether partial tiles (fewer than NR columns) may be
	// computed in place; otherwise they go through a scratch tile.
	Masked bool
	// KC is the depth of a cache block (B panels of KC×NR stay in L1), MC the
	// number of A rows per L2 block.
	KC, MC int
	// PF2 reports whether the float32 kernels M[mr] with mr > 1 take
	// FlagPF2 and FlagPFB (the half kernels never do).
	PF2 bool
	// M[mr] computes a tile of mr rows, 1 ≤ mr ≤ MR.
	M []Kernel
	// F16[mr] and BF16[mr] read 16-bit B panels (nil when the set has
	// none: 16-bit panels are then widened to float32 before use).
	F16, BF16 []HalfKernel
	// M1Wide[np] and F16M1Wide[np] are one-row kernels over np panels
	// (nil where the set has none).
	M1Wide    [9]WideKernel
	F16M1Wide [9]HalfWideKernel
	// M1Strided[np] is the one-row kernel over np panels' columns of a
	// matrix read in place (nil where the set has none).
	M1Strided [5]StridedKernel
}

// Mask returns the column mask of a tile with n valid columns.
func Mask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(n) - 1
}

var sets []*Set

// Sets returns the kernel sets this CPU can run, best first. It is empty
// where no assembly kernels exist (other architectures, the purego tag).
func Sets() []*Set { return sets }

// Best returns the fastest kernel set for this CPU, or nil.
func Best() *Set {
	if len(sets) == 0 {
		return nil
	}
	return sets[0]
}
