// Package vorbis is a compact, pure-Go Ogg Vorbis (Vorbis I) decoder: Ogg
// page parsing with CRC checks, the three Vorbis headers, Huffman/VQ
// codebooks, floor type 1, residue types 0–2, channel coupling, the
// FFT-based inverse MDCT with Vorbis windows and overlap-add, and
// granule-exact trimming of the first and last packets.
//
// Floor type 0 (used only by pre-release 2000–2001 encoders) is not
// supported. Chained streams are decoded one after another when they share
// sample rate and channel count.
package vorbis

import (
	"errors"
	"fmt"
	"io"
	"math"
)

type mapping struct {
	submaps                  int
	couplingMag, couplingAng []int
	mux                      []int // channel → submap
	floor                    []int // submap → floor
	residue                  []int // submap → residue
}

type mode struct {
	blockflag bool
	mapping   int
}

// setup holds everything the three headers define.
type setup struct {
	channels  int
	rate      int
	blocksize [2]int
	books     []*codebook
	floors    []*floor1
	residues  []*residue
	mappings  []mapping
	modes     []mode
	modeBits  uint
}

// Decoder decodes one Ogg Vorbis stream. Create it with NewDecoder and
// call Next until io.EOF. Channels come in Vorbis order (for 3 to 8
// channels: front left, centre, front right, …, LFE last). A Decoder is not
// safe for concurrent use.
type Decoder struct {
	ogg *oggReader
	s   *setup

	imdct    [2]*imdct
	slopes   [2][]float32 // rising window halves for each block size
	prev     [][]float32  // previous block's windowed output, per channel
	prevN    int
	havePrev bool

	// granule bookkeeping
	decoded   int64 // samples returned so far in this logical stream
	pending   [][]float32
	firstPage bool // still before the first audio page's granule
	holding   bool // d.out holds first-page samples not yet returned
	finished  bool

	// scratch
	vecs    [][]float32
	floorY  [][]int
	floorYs [][]int // per packet: floorY[c][:n], or nil when unused
	final   []int
	step2   []bool
	noRes   []bool
	skip    []bool
	curve   []float32
	blk     []float32
	resid   residueScratch
	out     [][]float32
}

// NewDecoder reads the Ogg Vorbis headers from r.
func NewDecoder(r io.Reader) (*Decoder, error) {
	return newDecoder(newOggReader(r))
}

func newDecoder(o *oggReader) (*Decoder, error) {
	d := &Decoder{ogg: o}
	p, err := d.ogg.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: no Vorbis stream", ErrCorrupt)
		}
		return nil, err
	}
	if err := d.readHeaders(p); err != nil {
		return nil, err
	}
	return d, nil
}

// SampleRate returns the stream's sample rate in Hz.
func (d *Decoder) SampleRate() int { return d.s.rate }

// Channels returns the number of channels.
func (d *Decoder) Channels() int { return d.s.channels }

func (d *Decoder) readHeaders(id packet) error {
	s, err := parseIdentification(id.data)
	if err != nil {
		return err
	}
	comment, err := d.ogg.next()
	if err != nil {
		return headerErr(err)
	}
	if len(comment.data) < 7 || string(comment.data[:7]) != "\x03vorbis" {
		return fmt.Errorf("%w: missing comment header", ErrCorrupt)
	}
	sp, err := d.ogg.next()
	if err != nil {
		return headerErr(err)
	}
	if err := s.parseSetup(sp.data); err != nil {
		return err
	}
	if d.s != nil && (d.s.rate != s.rate || d.s.channels != s.channels) {
		return fmt.Errorf("%w: chained stream changes from %d Hz × %d to %d Hz × %d", ErrUnsupported, d.s.rate, d.s.channels, s.rate, s.channels)
	}
	d.s = s
	for i, n := range s.blocksize {
		d.imdct[i] = newIMDCT(n)
		h := n / 2
		d.slopes[i] = make([]float32, h)
		for j := range d.slopes[i] {
			x := math.Sin((float64(j) + 0.5) / float64(h) * math.Pi / 2)
			d.slopes[i][j] = float32(math.Sin(math.Pi / 2 * x * x))
		}
	}
	ch := s.channels
	n1 := s.blocksize[1]
	d.prev = make([][]float32, ch)
	d.vecs = make([][]float32, ch)
	d.floorY = make([][]int, ch)
	d.floorYs = make([][]int, ch)
	d.out = make([][]float32, ch)
	for c := 0; c < ch; c++ {
		d.prev[c] = make([]float32, n1)
		d.vecs[c] = make([]float32, n1/2)
		d.floorY[c] = make([]int, 65)
	}
	d.final = make([]int, 65)
	d.step2 = make([]bool, 65)
	d.noRes = make([]bool, ch)
	d.skip = make([]bool, ch)
	d.curve = make([]float32, n1/2)
	d.blk = make([]float32, n1)
	d.havePrev = false
	d.decoded = 0
	d.firstPage = true
	d.holding = false
	return nil
}

func headerErr(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: stream ends inside the headers", errTruncated)
	}
	return err
}

func parseIdentification(p []byte) (*setup, error) {
	if len(p) < 30 || string(p[:7]) != "\x01vorbis" {
		return nil, fmt.Errorf("%w: bad identification header", ErrCorrupt)
	}
	b := &bitReader{data: p[7:]}
	if v := b.read(32); v != 0 {
		return nil, fmt.Errorf("%w: Vorbis version %d", ErrUnsupported, v)
	}
	s := &setup{channels: int(b.read(8)), rate: int(b.read(32))}
	b.read(32)
	b.read(32)
	b.read(32)
	bs0, bs1 := uint(b.read(4)), uint(b.read(4))
	framing := b.flag()
	if s.channels == 0 || s.rate == 0 {
		return nil, fmt.Errorf("%w: %d channels at %d Hz", ErrCorrupt, s.channels, s.rate)
	}
	if bs0 < 6 || bs1 > 13 || bs0 > bs1 || !framing {
		return nil, fmt.Errorf("%w: bad block sizes %d/%d", ErrCorrupt, 1<<bs0, 1<<bs1)
	}
	s.blocksize = [2]int{1 << bs0, 1 << bs1}
	return s, nil
}

func (s *setup) parseSetup(p []byte) error {
	if len(p) < 7 || string(p[:7]) != "\x05vorbis" {
		return fmt.Errorf("%w: missing setup header", ErrCorrupt)
	}
	b := &bitReader{data: p[7:]}
	nbooks := int(b.read(8)) + 1
	for i := 0; i < nbooks; i++ {
		c, err := readCodebook(b)
		if err != nil {
			return err
		}
		s.books = append(s.books, c)
	}
	ntime := int(b.read(6)) + 1
	for i := 0; i < ntime; i++ {
		if b.read(16) != 0 {
			return fmt.Errorf("%w: non-zero time domain transform", ErrCorrupt)
		}
	}
	nfloors := int(b.read(6)) + 1
	for i := 0; i < nfloors; i++ {
		switch t := b.read(16); t {
		case 1:
			f, err := readFloor1(b, s.books)
			if err != nil {
				return err
			}
			s.floors = append(s.floors, f)
		case 0:
			return fmt.Errorf("%w: floor type 0", ErrUnsupported)
		default:
			return fmt.Errorf("%w: floor type %d", ErrCorrupt, t)
		}
	}
	nres := int(b.read(6)) + 1
	for i := 0; i < nres; i++ {
		t := int(b.read(16))
		if t > 2 {
			return fmt.Errorf("%w: residue type %d", ErrCorrupt, t)
		}
		r, err := readResidue(b, t, s.books)
		if err != nil {
			return err
		}
		s.residues = append(s.residues, r)
	}
	nmaps := int(b.read(6)) + 1
	for i := 0; i < nmaps; i++ {
		if b.read(16) != 0 {
			return fmt.Errorf("%w: mapping type", ErrCorrupt)
		}
		m := mapping{submaps: 1}
		if b.flag() {
			m.submaps = int(b.read(4)) + 1
		}
		if b.flag() {
			steps := int(b.read(8)) + 1
			cb := ilog(s.channels - 1)
			for j := 0; j < steps; j++ {
				mag, ang := int(b.read(cb)), int(b.read(cb))
				if mag == ang || mag >= s.channels || ang >= s.channels {
					return fmt.Errorf("%w: bad channel coupling", ErrCorrupt)
				}
				m.couplingMag = append(m.couplingMag, mag)
				m.couplingAng = append(m.couplingAng, ang)
			}
		}
		if b.read(2) != 0 {
			return fmt.Errorf("%w: reserved mapping bits set", ErrCorrupt)
		}
		m.mux = make([]int, s.channels)
		if m.submaps > 1 {
			for c := range m.mux {
				m.mux[c] = int(b.read(4))
				if m.mux[c] >= m.submaps {
					return fmt.Errorf("%w: bad mapping mux", ErrCorrupt)
				}
			}
		}
		for j := 0; j < m.submaps; j++ {
			b.read(8)
			fl, re := int(b.read(8)), int(b.read(8))
			if fl >= len(s.floors) || re >= len(s.residues) {
				return fmt.Errorf("%w: bad submap", ErrCorrupt)
			}
			m.floor = append(m.floor, fl)
			m.residue = append(m.residue, re)
		}
		s.mappings = append(s.mappings, m)
	}
	nmodes := int(b.read(6)) + 1
	for i := 0; i < nmodes; i++ {
		md := mode{blockflag: b.flag()}
		if b.read(16) != 0 || b.read(16) != 0 {
			return fmt.Errorf("%w: bad mode window/transform type", ErrCorrupt)
		}
		md.mapping = int(b.read(8))
		if md.mapping >= len(s.mappings) {
			return fmt.Errorf("%w: bad mode mapping", ErrCorrupt)
		}
		s.modes = append(s.modes, md)
	}
	if !b.flag() || b.eop {
		return fmt.Errorf("%w: bad setup header framing", ErrCorrupt)
	}
	s.modeBits = ilog(nmodes - 1)
	return nil
}

// Next returns the next decoded samples, one slice per channel (valid until
// the following call; possibly empty), or io.EOF after the last.
func (d *Decoder) Next() ([][]float32, error) {
	for {
		if d.finished {
			return nil, io.EOF
		}
		p, err := d.ogg.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				d.finished = true
				if d.holding && len(d.out[0]) > 0 {
					d.holding = false
					return d.out, nil
				}
				return nil, io.EOF
			}
			return nil, err
		}
		if p.bos {
			if err := d.readHeaders(p); err != nil {
				return nil, err
			}
			continue
		}
		n := d.decodePacket(p.data)
		out := d.out
		if !d.holding {
			for c := range out {
				out[c] = out[c][:0]
			}
		}
		if n > 0 {
			for c := range out {
				out[c] = append(out[c], d.pending[c][:n]...)
			}
		}
		if p.granule < 0 && d.firstPage {
			// Samples of the first audio page are held until its granule
			// position says how many of them belong to the stream.
			d.holding = true
			continue
		}
		d.holding = false
		if p.granule >= 0 {
			out = d.applyGranule(out, p)
		}
		d.decoded += int64(len(out[0]))
		return out, nil
	}
}

// applyGranule trims the samples of the packet that ends a page so that the
// stream position matches the page's granule position: at the start of a
// stream that does not begin at zero (the first page's granule is smaller
// than what its packets decode to), and at the end (the last packet is
// padded).
func (d *Decoder) applyGranule(out [][]float32, p packet) [][]float32 {
	g := p.granule
	first := d.firstPage
	d.firstPage = false
	if p.eos {
		if keep := g - d.decoded; keep < int64(len(out[0])) {
			keep = max(keep, 0)
			for c := range out {
				out[c] = out[c][:keep]
			}
		}
		return out
	}
	if first {
		if extra := d.decoded + int64(len(out[0])) - g; extra > 0 {
			drop := min(extra, int64(len(out[0])))
			for c := range out {
				out[c] = out[c][drop:]
			}
		}
	}
	return out
}

// decodePacket decodes one audio packet and returns how many samples per
// channel it completes (in d.pending); 0 for the first packet or a
// non-audio or undecodable packet.
func (d *Decoder) decodePacket(data []byte) int {
	s := d.s
	if len(data) == 0 {
		return 0
	}
	b := &bitReader{data: data}
	if b.flag() { // not an audio packet
		return 0
	}
	mi := int(b.read(s.modeBits))
	if b.eop || mi >= len(s.modes) {
		return 0
	}
	md := s.modes[mi]
	bf := 0
	if md.blockflag {
		bf = 1
	}
	n := s.blocksize[bf]
	prevLong, nextLong := true, true
	if md.blockflag {
		prevLong = b.flag()
		nextLong = b.flag()
	}
	mp := s.mappings[md.mapping]
	half := n / 2
	ch := s.channels

	// floors
	floorYs := d.floorYs
	for c := 0; c < ch; c++ {
		fl := s.floors[mp.floor[mp.mux[c]]]
		floorYs[c] = fl.decode(b, s.books, d.floorY[c])
		d.noRes[c] = floorYs[c] == nil
	}
	for i := range mp.couplingMag {
		m, a := mp.couplingMag[i], mp.couplingAng[i]
		if !d.noRes[m] || !d.noRes[a] {
			d.noRes[m], d.noRes[a] = false, false
		}
	}
	// residues
	for c := 0; c < ch; c++ {
		v := d.vecs[c][:half]
		clear(v)
	}
	for sm := 0; sm < mp.submaps; sm++ {
		var vecs [][]float32
		var skip []bool
		for c := 0; c < ch; c++ {
			if mp.mux[c] == sm {
				vecs = append(vecs, d.vecs[c][:half])
				skip = append(skip, d.noRes[c])
			}
		}
		s.residues[mp.residue[sm]].decode(b, s.books, vecs, skip, half, &d.resid)
	}
	// inverse coupling
	for i := len(mp.couplingMag) - 1; i >= 0; i-- {
		mv, av := d.vecs[mp.couplingMag[i]][:half], d.vecs[mp.couplingAng[i]][:half]
		for j := range mv {
			m, a := mv[j], av[j]
			if m > 0 {
				if a > 0 {
					mv[j], av[j] = m, m-a
				} else {
					mv[j], av[j] = m+a, m
				}
			} else {
				if a > 0 {
					mv[j], av[j] = m, m+a
				} else {
					mv[j], av[j] = m-a, m
				}
			}
		}
	}
	// floor × residue, inverse MDCT, window, overlap-add
	if len(d.pending) != ch {
		d.pending = make([][]float32, ch)
	}
	outN := 0
	if d.havePrev {
		outN = d.prevN/4 + n/4
	}
	lws, lwe, rws, rwe, ln, rn := windowBounds(n, s.blocksize[0], md.blockflag, prevLong, nextLong)
	for c := 0; c < ch; c++ {
		v := d.vecs[c][:half]
		if floorYs[c] == nil {
			clear(v)
		} else {
			curve := d.curve[:half]
			s.floors[mp.floor[mp.mux[c]]].curve(floorYs[c], curve, d.final, d.step2)
			for j := range v {
				v[j] *= curve[j]
			}
		}
		blk := d.blk[:n]
		d.imdct[bf].inverse(v, blk)
		// window
		slopeL, slopeR := d.slopes[0], d.slopes[0]
		if ln == s.blocksize[1]/2 {
			slopeL = d.slopes[1]
		}
		if rn == s.blocksize[1]/2 {
			slopeR = d.slopes[1]
		}
		for j := 0; j < lws; j++ {
			blk[j] = 0
		}
		for j := lws; j < lwe; j++ {
			blk[j] *= slopeL[j-lws]
		}
		for j := rws; j < rwe; j++ {
			blk[j] *= slopeR[rn-1-(j-rws)]
		}
		for j := rwe; j < n; j++ {
			blk[j] = 0
		}
		// overlap-add: output [prev center, current center)
		if d.havePrev {
			if cap(d.pending[c]) < outN {
				d.pending[c] = make([]float32, outN, s.blocksize[1])
			}
			o := d.pending[c][:outN]
			prev := d.prev[c][:d.prevN]
			shift := n/4 - d.prevN/4
			for t := 0; t < outN; t++ {
				var v float32
				if pi := d.prevN/2 + t; pi < d.prevN {
					v = prev[pi]
				}
				if ci := t + shift; ci >= 0 && ci < n {
					v += blk[ci]
				}
				o[t] = v
			}
			d.pending[c] = o
		}
		copy(d.prev[c][:n], blk)
	}
	d.prevN = n
	d.havePrev = true
	return outN
}

// windowBounds returns the Vorbis window's left slope [lws, lwe) of length
// ln and right slope [rws, rwe) of length rn for a block of size n.
func windowBounds(n, bs0 int, long, prevLong, nextLong bool) (lws, lwe, rws, rwe, ln, rn int) {
	center := n / 2
	if long && !prevLong {
		lws, lwe, ln = n/4-bs0/4, n/4+bs0/4, bs0/2
	} else {
		lws, lwe, ln = 0, center, n/2
	}
	if long && !nextLong {
		rws, rwe, rn = n*3/4-bs0/4, n*3/4+bs0/4, bs0/2
	} else {
		rws, rwe, rn = center, n, n/2
	}
	return
}
