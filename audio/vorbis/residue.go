package vorbis

import "fmt"

// residue is a Vorbis residue configuration (types 0, 1 and 2).
type residue struct {
	typ             int
	begin, end      int
	partSize        int
	classifications int
	classbook       int
	books           [][8]int // [class][pass], -1 = none
}

func readResidue(b *bitReader, typ int, books []*codebook) (*residue, error) {
	r := &residue{typ: typ}
	r.begin = int(b.read(24))
	r.end = int(b.read(24))
	r.partSize = int(b.read(24)) + 1
	r.classifications = int(b.read(6)) + 1
	r.classbook = int(b.read(8))
	if r.classbook >= len(books) || books[r.classbook].dims == 0 {
		return nil, fmt.Errorf("%w: residue class book %d", ErrCorrupt, r.classbook)
	}
	cascade := make([]uint32, r.classifications)
	for i := range cascade {
		low := b.read(3)
		var high uint32
		if b.flag() {
			high = b.read(5)
		}
		cascade[i] = high<<3 | low
	}
	r.books = make([][8]int, r.classifications)
	for i := range r.books {
		for j := 0; j < 8; j++ {
			r.books[i][j] = -1
			if cascade[i]&(1<<j) != 0 {
				bk := int(b.read(8))
				if bk >= len(books) || books[bk].values == nil {
					return nil, fmt.Errorf("%w: residue book %d has no vector lookup", ErrCorrupt, bk)
				}
				r.books[i][j] = bk
			}
		}
	}
	if b.eop {
		return nil, fmt.Errorf("%w: truncated residue", ErrCorrupt)
	}
	return r, nil
}

// decode adds the residue of the channels in vecs (each of length n) into
// them; channels with skip[i] set are not coded. scratch is reused memory.
func (r *residue) decode(b *bitReader, books []*codebook, vecs [][]float32, skip []bool, n int, scratch *residueScratch) {
	if r.typ == 2 {
		any := false
		for _, s := range skip {
			if !s {
				any = true
			}
		}
		if !any {
			return
		}
		ch := len(vecs)
		total := n * ch
		big := scratch.interleaved(total)
		r.decodeVectors(b, books, [][]float32{big}, []bool{false}, total, 1, scratch)
		for i := 0; i < n; i++ {
			for c := 0; c < ch; c++ {
				vecs[c][i] += big[i*ch+c]
			}
		}
		return
	}
	r.decodeVectors(b, books, vecs, skip, n, r.typ, scratch)
}

type residueScratch struct {
	big   []float32
	class [][]int
}

func (s *residueScratch) interleaved(n int) []float32 {
	if cap(s.big) < n {
		s.big = make([]float32, n)
	}
	s.big = s.big[:n]
	clear(s.big)
	return s.big
}

// decodeVectors implements residue decoding of formats 0 and 1 (format 2
// is format 1 on the interleaved vector).
func (r *residue) decodeVectors(b *bitReader, books []*codebook, vecs [][]float32, skip []bool, n, format int, scratch *residueScratch) {
	begin, end := min(r.begin, n), min(r.end, n)
	if end <= begin {
		return
	}
	partitions := (end - begin) / r.partSize
	if partitions == 0 {
		return
	}
	cb := books[r.classbook]
	perWord := cb.dims
	for len(scratch.class) < len(vecs) {
		scratch.class = append(scratch.class, nil)
	}
	cls := scratch.class[:len(vecs)]
	for j := range cls {
		need := partitions + perWord
		if cap(cls[j]) < need {
			cls[j] = make([]int, need)
		}
		cls[j] = cls[j][:need]
	}
	for pass := 0; pass < 8; pass++ {
		p := 0
		for p < partitions {
			if pass == 0 {
				for j := range vecs {
					if skip[j] {
						continue
					}
					temp := cb.decode(b)
					if temp < 0 {
						return
					}
					for i := perWord - 1; i >= 0; i-- {
						cls[j][p+i] = temp % r.classifications
						temp /= r.classifications
					}
				}
			}
			for i := 0; i < perWord && p < partitions; i++ {
				for j, v := range vecs {
					if skip[j] {
						continue
					}
					bk := r.books[cls[j][p]][pass]
					if bk < 0 {
						continue
					}
					book := books[bk]
					off := begin + p*r.partSize
					if !decodePartition(b, book, v[off:off+r.partSize], format) {
						return
					}
				}
				p++
			}
		}
	}
}

// decodePartition adds one partition's VQ vectors into v; false at end of
// packet.
func decodePartition(b *bitReader, book *codebook, v []float32, format int) bool {
	dims := book.dims
	if format == 0 {
		step := len(v) / dims
		for i := 0; i < step; i++ {
			e := book.vector(b)
			if e == nil {
				return false
			}
			for j, x := range e {
				v[i+j*step] += x
			}
		}
		return true
	}
	for i := 0; i < len(v); {
		e := book.vector(b)
		if e == nil {
			return false
		}
		for _, x := range e {
			if i >= len(v) {
				break
			}
			v[i] += x
			i++
		}
	}
	return true
}
