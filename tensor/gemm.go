package tensor

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// The fast GEMM follows the Goto/BLIS structure: B is packed into panels of
// KC×NR floats (or pre-packed once, see PackedB), each panel is kept in L1
// while the micro-kernel sweeps MR-row slices of A straight from its
// row-major storage (held in L2 as an MC×KC block), and the work is split by
// column panels (or by rows when there are few panels) across goroutines.

// fastSet is the kernel set behind the fast GEMM; nil where only pure Go is
// available.
var fastSet = kern.Best()

// parallelWork is the number of multiply-adds below which a GEMM runs on one
// goroutine (starting and joining workers costs microseconds); parallelRead
// is the matrix size (elements) below which a product with one row, bound
// by memory bandwidth, does.
const (
	parallelWork = 1 << 20
	parallelRead = 1 << 17
)

// getBuf returns a scratch buffer of n floats (contents unspecified) from
// the recycled storage (see pool.go), so steady-state inference does not
// allocate; putBuf gives it back.
func getBuf(n int) *[]float32 {
	if p, ok := poolGet(n); ok {
		return p
	}
	_, c := classFor(n)
	s := make([]float32, n, c)
	return &s
}

func putBuf(p *[]float32) { poolPut(p) }

// gemmFast is the GemmFunc of the assembly kernels.
func gemmFast(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmFastThreads(Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmFastThreads is gemmFast on up to threads goroutines.
func gemmFastThreads(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmCheckArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemmDrive(fastSet, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, nil, beta, c, ldc, nil, nil)
}

// checkGemm panics with a clear message when an operand slice is too short
// for the shape and strides it is used with (the assembly kernels read
// through raw pointers, so this is the memory-safety check).
func gemmCheckArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor: gemm with negative size %d×%d×%d", m, n, k))
	}
	if transA {
		gemmNeed("A", a, k, m, lda)
	} else {
		gemmNeed("A", a, m, k, lda)
	}
	if transB {
		gemmNeed("B", b, n, k, ldb)
	} else {
		gemmNeed("B", b, k, n, ldb)
	}
	gemmNeed("C", c, m, n, ldc)
}

// gemmNeed panics unless s holds a rows×cols matrix with leading dimension ld.
func gemmNeed(name string, s []float32, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols || len(s) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("tensor: gemm operand %s of %d elements too short for %d×%d with leading dimension %d", name, len(s), rows, cols, ld))
	}
}

// gemmDrive computes C = act(alpha·op(A)·op(B) + beta·C (+ bias[j] on every
// row)) with kernel set s on up to threads goroutines. When pb is non-nil it
// is the pre-packed B (b, ldb and transB are ignored); act, when non-nil, is
// applied in place to each finished row segment of C.
func gemmDrive(s *kern.Set, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, pb *PackedB, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		gemmEmpty(m, n, beta, c, ldc, bias, act)
		return
	}
	if pb == nil && m <= 8 && transB && !transA {
		// A few rows times a transposed matrix: dot products against its
		// rows, which need no packing (the matrix is read once per row).
		for i := 0; i < m; i++ {
			gemvT(s, threads, n, k, alpha, a[i*lda:], b, ldb, beta, c[i*ldc:], bias, act)
		}
		return
	}
	panels := (n + s.NR - 1) / s.NR
	w := 1
	if threads > 1 && (m*n*k >= parallelWork || (m <= s.MR && n*k >= parallelRead)) {
		w = threads
	}
	// The product's parameters travel to the workers in a recycled job, not
	// in closures (which would move them to the heap at every call).
	j := gemmJobs.Get().(*gemmJob)
	*j = gemmJob{s: s, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, pb: pb, beta: beta, c: c, ldc: ldc, bias: bias, act: act}
	defer func() {
		*j = gemmJob{}
		gemmJobs.Put(j)
	}()
	// Copy op(A) into a buffer whose row stride maps consecutive rows to
	// different L1 sets (a power-of-two stride puts all MR rows the kernel
	// reads in one set), once, shared by all workers.
	if transA || (m > s.MR && conflictStride(lda)) {
		ldp := (k + 15) &^ 15
		if ldp/16%2 == 0 {
			ldp += 16
		}
		abuf := getBuf(m * ldp)
		defer putBuf(abuf)
		j.ap, j.ldp = *abuf, ldp
		if w > 1 && m*k >= 1<<15 {
			j.copying, j.chunks = true, min(m, 4*w)
			runChunks(w, j.chunks, j)
			j.copying = false
		} else {
			j.copyRows(0, m)
		}
		j.a, j.lda, j.transA = j.ap, ldp, false
	}
	// Split by column panels when there are enough of them (each worker
	// then packs only its own part of B), else by rows. Work is handed out
	// in several chunks per worker so that a worker delayed by other load
	// on the machine does not hold the others up.
	j.splitN = panels >= 2*w || pb != nil || m < s.MR*w
	j.units = panels
	if !j.splitN {
		j.units = (m + s.MR - 1) / s.MR
	}
	w = min(w, j.units)
	if w <= 1 {
		gemmBlock(s, j.transA, transB, 0, m, 0, n, k, alpha, j.a, j.lda, b, ldb, pb, beta, c, ldc, bias, act)
		return
	}
	j.chunks = min(j.units, 4*w)
	runChunks(w, j.chunks, j)
}

// gemmJob is one product of gemmDrive as its workers see it.
type gemmJob struct {
	s              *kern.Set
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	pb             *PackedB
	bias           []float32
	act            func([]float32)
	// chunking: units (column panels or row blocks) in chunks
	splitN        bool
	units, chunks int
	// copying op(A) into ap (row stride ldp) instead of multiplying
	copying bool
	ap      []float32
	ldp     int
}

var gemmJobs = sync.Pool{New: func() any { return new(gemmJob) }}

func (j *gemmJob) runChunk(i int) {
	if j.copying {
		j.copyRows(i*j.m/j.chunks, (i+1)*j.m/j.chunks)
		return
	}
	lo, hi := i*j.units/j.chunks, (i+1)*j.units/j.chunks
	s := j.s
	if j.splitN {
		gemmBlock(s, j.transA, j.transB, 0, j.m, min(j.n, lo*s.NR), min(j.n, hi*s.NR), j.k, j.alpha, j.a, j.lda, j.b, j.ldb, j.pb, j.beta, j.c, j.ldc, j.bias, j.act)
	} else {
		gemmBlock(s, j.transA, j.transB, min(j.m, lo*s.MR), min(j.m, hi*s.MR), 0, j.n, j.k, j.alpha, j.a, j.lda, j.b, j.ldb, j.pb, j.beta, j.c, j.ldc, j.bias, j.act)
	}
}

// copyRows copies rows [i0, i1) of op(A) into ap.
func (j *gemmJob) copyRows(i0, i1 int) {
	ap, ldp, a, lda, k := j.ap, j.ldp, j.a, j.lda, j.k
	if !j.transA {
		for i := i0; i < i1; i++ {
			copy(ap[i*ldp:i*ldp+k], a[i*lda:i*lda+k])
		}
		return
	}
	for p := 0; p < k; p++ {
		src := a[p*lda+i0 : p*lda+i1]
		for i, v := range src {
			ap[(i0+i)*ldp+p] = v
		}
	}
}

// gemmEmpty is a product without terms (k = 0 or alpha = 0): C =
// act(beta·C (+ bias)).
func gemmEmpty(m, n int, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) {
	scaleC(m, n, beta, c, ldc, bias)
	if act != nil {
		for i := 0; i < m; i++ {
			act(c[i*ldc : i*ldc+n])
		}
	}
}

// scaleC sets C = beta·C (+ bias).
func scaleC(m, n int, beta float32, c []float32, ldc int, bias []float32) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
		if bias != nil {
			for j := range row {
				row[j] += bias[j]
			}
		}
	}
}

// gemmBlock computes rows [m0, m1) × columns [n0, n1) of C on the calling
// goroutine.
func gemmBlock(s *kern.Set, transA, transB bool, m0, m1, n0, n1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, pb *PackedB, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) {
	// Columns are done gemmNC at a time so that the block of C being
	// accumulated over the K blocks stays in L2.
	// With pre-packed B there is no packing to amortise over the row
	// blocks, so each MC-row block goes through all K blocks in turn and its
	// block of C stays in L2.
	nc := gemmNC / s.NR * s.NR
	mc := m1 - m0
	if pb != nil {
		mc = s.MC
		// Few rows: wider blocks (C's block still about 256 KiB), so that
		// a chunk of panels is one block whose panels prefetch each other
		// (the next panel of a block's last is not prefetched).
		if m1-m0 < s.MC {
			nc = max(nc, gemmCBlock/(m1-m0)/s.NR*s.NR)
		}
	}
	for j := n0; j < n1; j += nc {
		for i := m0; i < m1; i += mc {
			gemmBlockNC(s, transA, transB, i, min(m1, i+mc), j, min(n1, j+nc), k, alpha, a, lda, b, ldb, pb, beta, c, ldc, bias, act)
		}
	}
}

// gemmNC is the width of the column blocks of gemmBlock; gemmCBlock the
// size (floats) of a block of C of a product with pre-packed B and fewer
// than MC rows, whose blocks are wider.
var gemmNC = 256

const gemmCBlock = 64 << 10

func gemmBlockNC(s *kern.Set, transA, transB bool, m0, m1, n0, n1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, pb *PackedB, beta float32, c []float32, ldc int, bias []float32, act func([]float32)) {
	if m0 >= m1 || n0 >= n1 {
		return
	}
	nr := s.NR
	kcMax := s.KC
	if pb != nil {
		kcMax = pb.kc
	}
	direct := pb == nil && !transB && s.Masked && m1-m0 <= s.MR
	var bbuf, abuf, wbuf *[]float32
	// 16-bit packed panels: read in place by the half kernels when there
	// are few rows, else widened once per panel for the float32 kernels.
	var hk []kern.HalfKernel
	if pb != nil && pb.half != nil {
		if pb.kind == WeightF16 {
			hk = s.F16
		} else {
			hk = s.BF16
		}
		if hk == nil || m1-m0 > 2*s.MR {
			hk = nil
			wbuf = getBuf(kcMax * nr)
			defer putBuf(wbuf)
		}
	}
	npan := (n1 - n0 + nr - 1) / nr
	if pb == nil && !direct {
		bbuf = getBuf(min(kcMax, k) * npan * nr)
		defer putBuf(bbuf)
	}
	if transA {
		abuf = getBuf(min(s.MC, m1-m0) * min(kcMax, k))
		defer putBuf(abuf)
	}
	var tile []float32 // scratch for partial tiles of unmasked kernel sets
	for pc := 0; pc < k; pc += kcMax {
		kc := min(kcMax, k-pc)
		if bbuf != nil {
			packB(transB, b, ldb, pc, kc, n0, n1, nr, *bbuf)
		}
		flags := kern.FlagBeta
		bt := beta
		if pc == 0 {
			if beta == 0 {
				flags = 0
			}
			if bias != nil {
				flags |= kern.FlagBias
			}
		} else {
			bt = 1
		}
		last := pc+kc >= k
		for ic := m0; ic < m1; ic += s.MC {
			mc := min(s.MC, m1-ic)
			var ablk []float32
			alda := lda
			if transA {
				ablk = *abuf
				packAT(a, lda, ic, mc, pc, kc, ablk)
				alda = kc
			} else {
				ablk = a[ic*lda+pc:]
			}
			for jp := n0; jp < n1; jp += nr {
				jn := min(nr, n1-jp)
				var bptr *float32
				var hptr *uint16
				bstride := nr * 4
				switch {
				case hk != nil:
					hptr = &pb.half[pb.panelOff(pc, jp)]
					bstride = nr * 2
				case wbuf != nil:
					off := pb.panelOff(pc, jp)
					wb := (*wbuf)[:kc*nr]
					if pb.kind == WeightF16 {
						kern.WidenF16(wb, pb.half[off:off+kc*nr])
					} else {
						kern.WidenBF16(wb, pb.half[off:off+kc*nr])
					}
					bptr = &wb[0]
				case pb != nil:
					bptr = pb.panel(pc, jp)
				case direct:
					bptr = &b[pc*ldb+jp]
					bstride = ldb * 4
				default:
					bptr = &(*bbuf)[(jp-n0)/nr*kc*nr]
				}
				var bb *float32
				if flags&kern.FlagBias != 0 {
					bb = &bias[jp]
				}
				mask := kern.Mask(jn)
				pfBase, pfLen := nextPanel(pb, bbuf, hk != nil || wbuf != nil, pc, kc, k, jp, n0, n1, nr)
				// The rows are split evenly into tiles (50 rows: 12, 13,
				// 12, 13 rather than 14, 14, 14, 8), since a kernel of few
				// rows does less work per B value it loads; each element's
				// sum is the same whatever the tile.
				tiles := (mc + s.MR - 1) / s.MR
				// A tile prefetches 16·kc bytes from pf, the tiles
				// consecutive parts of the next panel; with fewer tiles
				// than that takes (a float32 panel of pre-packed B is
				// 4·nr·kc bytes), twice as much each.
				pfGap, kflags := 16*kc, flags
				if s.PF2 && pfLen > 0 && hk == nil && wbuf == nil && tiles*16 < 4*nr {
					pfGap, kflags = 32*kc, flags|kern.FlagPF2
				}
				for t := 0; t < tiles; t++ {
					pf := pfBase
					if pfLen > 0 {
						pf = (*byte)(unsafe.Add(unsafe.Pointer(pfBase), min(t*pfGap, pfLen-1)))
					}
					ir := (t*mc + tiles - 1) / tiles
					mr := ((t+1)*mc+tiles-1)/tiles - ir
					cp := &c[(ic+ir)*ldc+jp]
					if hk != nil {
						hk[mr](kc, &ablk[ir*alda], alda, hptr, bstride, cp, ldc, alpha, bt, bb, mask, flags, pf)
					} else if jn == nr || s.Masked {
						f := kflags
						if t == 0 && pb != nil && wbuf == nil && s.PF2 {
							f |= kern.FlagPFB
						}
						s.M[mr](kc, &ablk[ir*alda], alda, bptr, bstride, cp, ldc, alpha, bt, bb, mask, f, pf)
					}
					if hk != nil || jn == nr || s.Masked {
						if act != nil && last {
							for i := 0; i < mr; i++ {
								o := (ic+ir+i)*ldc + jp
								act(c[o : o+jn])
							}
						}
						continue
					}
					// Partial tile without masks: compute into a scratch tile.
					if tile == nil {
						tb := getBuf(s.MR * nr)
						defer putBuf(tb)
						tile = *tb
					}
					s.M[mr](kc, &ablk[ir*alda], alda, bptr, bstride, &tile[0], nr, alpha, 0, nil, 0, 0, pf)
					for i := 0; i < mr; i++ {
						crow := c[(ic+ir+i)*ldc+jp : (ic+ir+i)*ldc+jp+jn]
						trow := tile[i*nr : i*nr+jn]
						for j := range crow {
							v := trow[j]
							if flags&kern.FlagBias != 0 {
								v += bias[jp+j]
							}
							if flags&kern.FlagBeta != 0 {
								v += bt * crow[j]
							}
							crow[j] = v
						}
						if act != nil && last {
							act(crow)
						}
					}
				}
			}
		}
	}
}

// packB packs rows [pc, pc+kc) × columns [n0, n1) of op(B) into panels of
// kc×nr floats (columns past n1 zeroed).
func packB[T float32 | uint16](transB bool, b []T, ldb, pc, kc, n0, n1, nr int, dst []T) {
	for jp := n0; jp < n1; jp += nr {
		jn := min(nr, n1-jp)
		panel := dst[(jp-n0)/nr*kc*nr : ((jp-n0)/nr+1)*kc*nr]
		if !transB {
			for p := 0; p < kc; p++ {
				row := panel[p*nr : (p+1)*nr]
				copy(row, b[(pc+p)*ldb+jp:(pc+p)*ldb+jp+jn])
				clear(row[jn:])
			}
			continue
		}
		if jn < nr {
			clear(panel)
		}
		// Transposing: blocks of packTB values of every row, so that the
		// rows read and the panel lines written stay in L1 (one value per
		// row at a time writes a whole panel line per value, 8× slower).
		const packTB = 16
		for p0 := 0; p0 < kc; p0 += packTB {
			pn := min(packTB, kc-p0)
			for j := 0; j < jn; j++ {
				src := b[(jp+j)*ldb+pc+p0 : (jp+j)*ldb+pc+p0+pn]
				out := panel[p0*nr+j : p0*nr+j+(pn-1)*nr+1]
				for q, v := range src {
					out[q*nr] = v
				}
			}
		}
	}
}

// packAT copies rows [ic, ic+mc) × columns [pc, pc+kc) of op(A) = Aᵀ (A
// stored k×m with leading dimension lda) into dst as a row-major mc×kc block.
func packAT(a []float32, lda, ic, mc, pc, kc int, dst []float32) {
	for p := 0; p < kc; p++ {
		src := a[(pc+p)*lda+ic : (pc+p)*lda+ic+mc]
		for i, v := range src {
			dst[i*kc+p] = v
		}
	}
}

// gemvT computes c[j] = alpha·Σ a[p]·b[j*ldb+p] + beta·c[j] (+ bias[j]): a
// single row times a transposed matrix, which needs no packing.
func gemvT(s *kern.Set, threads, n, k int, alpha float32, a, b []float32, ldb int, beta float32, c, bias []float32, act func([]float32)) {
	w := 1
	if threads > 1 && n*k >= parallelRead {
		w = min(threads, n/8)
	}
	job := gemvJobs.get()
	*job = gemvJob{k: k, alpha: alpha, a: a, b: b, ldb: ldb, beta: beta, c: c, bias: bias, act: act}
	if w <= 1 {
		job.runRange(0, n)
	} else {
		runRanges(w, min(4*w, max(1, n/8)), n, job)
	}
	gemvJobs.put(job)
}

// gemvJob is one gemvT call, recycled so that the call allocates nothing.
type gemvJob struct {
	k           int
	alpha, beta float32
	a, b        []float32
	ldb         int
	c, bias     []float32
	act         func([]float32)
}

var gemvJobs jobPool[gemvJob]

func (g *gemvJob) runRange(j0, j1 int) {
	a, b, c, k, ldb, bias := g.a, g.b, g.c, g.k, g.ldb, g.bias
	if g.beta == 0 && bias == nil {
		kern.VecDotRows(a[:k], b[j0*ldb:], ldb, g.alpha, c[j0:j1])
	} else {
		var tmp [64]float32
		for j := j0; j < j1; j += len(tmp) {
			t := tmp[:min(len(tmp), j1-j)]
			kern.VecDotRows(a[:k], b[j*ldb:], ldb, g.alpha, t)
			for i, v := range t {
				if g.beta != 0 {
					v += g.beta * c[j+i]
				}
				if bias != nil {
					v += bias[j+i]
				}
				c[j+i] = v
			}
		}
	}
	if g.act != nil {
		g.act(c[j0:j1])
	}
}

// nextPanel returns where the B panel used after (pc, jp) starts and how
// many bytes of its buffer follow (0: nothing worth prefetching), so that
// kernels can prefetch it into L2 while they work on the current one.
func nextPanel(pb *PackedB, bbuf *[]float32, half bool, pc, kc, k, jp, n0, n1, nr int) (*byte, int) {
	switch {
	case pb != nil:
		npc, njp := pc, jp+nr
		if njp >= n1 {
			npc, njp = pc+kc, n0
		}
		if npc >= k {
			return nil, 0
		}
		off := pb.panelOff(npc, njp)
		if half {
			return (*byte)(unsafe.Pointer(&pb.half[off])), 2 * (len(pb.half) - off)
		}
		return (*byte)(unsafe.Pointer(&pb.data[off])), 4 * (len(pb.data) - off)
	case bbuf != nil && jp+nr < n1:
		off := (jp + nr - n0) / nr * kc * nr
		return (*byte)(unsafe.Pointer(&(*bbuf)[off])), 4 * (len(*bbuf) - off)
	}
	return nil, 0
}
