package vorbis

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// oggCRC is the Ogg page checksum table: CRC-32, polynomial 0x04c11db7,
// not reflected, initial value 0, no final xor.
var oggCRC = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return
}()

func crcUpdate(crc uint32, b []byte) uint32 {
	for _, v := range b {
		crc = crc<<8 ^ oggCRC[byte(crc>>24)^v]
	}
	return crc
}

// packet is one Vorbis packet with what its Ogg page says about it.
type packet struct {
	data []byte
	// granule is the page's granule position when this packet is the last
	// one completed on its page, else -1.
	granule int64
	eos     bool // last packet of the logical stream
	bos     bool // first packet of a logical stream
}

// oggReader splits an Ogg physical stream into the packets of its Vorbis
// logical stream(s). Other multiplexed logical streams are skipped; chained
// streams follow one another.
type oggReader struct {
	r        *bufio.Reader
	serial   uint32
	active   bool // serial is the Vorbis stream being read
	ignored  map[uint32]bool
	partial  []byte // packet continuing onto the next page
	queue    []packet
	ended    bool // the active stream reached its EOS page
	seq      uint32
	havePage bool
	pages    int
	noCRC    bool // fuzzing only: accept pages with a wrong checksum
}

func newOggReader(r io.Reader) *oggReader {
	return &oggReader{r: bufio.NewReaderSize(r, 64<<10), ignored: map[uint32]bool{}}
}

// maxPacket bounds one packet (a corrupt stream could otherwise continue a
// packet forever).
const maxPacket = 16 << 20

// next returns the next packet of the Vorbis stream, or io.EOF.
func (o *oggReader) next() (packet, error) {
	for len(o.queue) == 0 {
		if err := o.readPage(); err != nil {
			return packet{}, err
		}
	}
	p := o.queue[0]
	o.queue = o.queue[1:]
	return p, nil
}

func (o *oggReader) readPage() error {
	var h [27]byte
	if _, err := io.ReadFull(o.r, h[:]); err != nil {
		if errors.Is(err, io.EOF) && o.havePage {
			if len(o.partial) > 0 || (o.active && !o.ended) {
				// A stream cut at a page boundary: the last pages are
				// missing. Report it so the caller can tell.
				return fmt.Errorf("%w: stream ends without an end-of-stream page", errTruncated)
			}
			return io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if !o.havePage {
				return fmt.Errorf("%w: no Ogg page", ErrCorrupt)
			}
			return fmt.Errorf("%w: truncated Ogg page header", errTruncated)
		}
		return err
	}
	if string(h[0:4]) != "OggS" {
		return fmt.Errorf("%w: lost Ogg page sync (page %d)", ErrCorrupt, o.pages)
	}
	if h[4] != 0 {
		return fmt.Errorf("%w: Ogg version %d", ErrUnsupported, h[4])
	}
	o.havePage = true
	o.pages++
	flags := h[5]
	granule := int64(binary.LittleEndian.Uint64(h[6:14]))
	serial := binary.LittleEndian.Uint32(h[14:18])
	seq := binary.LittleEndian.Uint32(h[18:22])
	want := binary.LittleEndian.Uint32(h[22:26])
	nseg := int(h[26])
	lacing := make([]byte, nseg)
	if _, err := io.ReadFull(o.r, lacing); err != nil {
		return fmt.Errorf("%w: truncated Ogg page", errTruncated)
	}
	size := 0
	for _, l := range lacing {
		size += int(l)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(o.r, body); err != nil {
		return fmt.Errorf("%w: truncated Ogg page", errTruncated)
	}
	h[22], h[23], h[24], h[25] = 0, 0, 0, 0
	crc := crcUpdate(crcUpdate(crcUpdate(0, h[:]), lacing), body)
	if crc != want && !o.noCRC {
		return fmt.Errorf("%w: Ogg page %d checksum mismatch", ErrCorrupt, o.pages-1)
	}
	bos, cont, eos := flags&2 != 0, flags&1 != 0, flags&4 != 0

	if bos && (!o.active || o.ended) {
		// a new logical stream (or the next link of a chain, even one that
		// reuses the serial number): adopt it if it carries Vorbis
		if len(body) >= 7 && string(body[:7]) == "\x01vorbis" {
			o.serial, o.active, o.ended = serial, true, false
			o.partial = nil
			o.seq = seq
			o.queue = append(o.queue, packet{data: firstPacket(lacing, body), granule: -1, bos: true})
			return nil
		}
		o.ignored[serial] = true
		return nil
	}
	if !o.active || serial != o.serial || o.ended {
		if !o.active && !o.ignored[serial] {
			return fmt.Errorf("%w: Ogg stream does not start with a Vorbis header", ErrCorrupt)
		}
		return nil // another logical stream
	}
	if seq != o.seq+1 {
		// lost pages: drop any partial packet, as libvorbis does
		o.partial = nil
		cont = false
	}
	o.seq = seq

	var done []packet
	pkt := o.partial
	if !cont {
		pkt = nil
	}
	o.partial = nil
	skipFirst := cont && pkt == nil // continuation of a packet we dropped
	off := 0
	for _, l := range lacing {
		pkt = append(pkt, body[off:off+int(l)]...)
		off += int(l)
		if len(pkt) > maxPacket {
			return fmt.Errorf("%w: packet larger than %d bytes", ErrCorrupt, maxPacket)
		}
		if l < 255 {
			if skipFirst {
				skipFirst = false
			} else {
				done = append(done, packet{data: pkt, granule: -1})
			}
			pkt = nil
		}
	}
	if len(pkt) > 0 || (nseg > 0 && lacing[nseg-1] == 255) {
		o.partial = pkt
	}
	if len(done) > 0 {
		done[len(done)-1].granule = granule
		if eos {
			done[len(done)-1].eos = true
		}
	} else if eos {
		// EOS page with no completed packet: the stream ends here.
		done = append(done, packet{data: nil, granule: granule, eos: true})
	}
	if eos {
		o.ended = true
		o.partial = nil
	}
	o.queue = append(o.queue, done...)
	return nil
}

// firstPacket returns the first complete packet of a BOS page body.
func firstPacket(lacing, body []byte) []byte {
	n := 0
	for _, l := range lacing {
		n += int(l)
		if l < 255 {
			break
		}
	}
	return body[:n]
}
