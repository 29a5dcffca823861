package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxDataPkl bounds the size of a checkpoint's data.pkl (OpenAI's are tens
// of kilobytes; the tensors themselves live in separate records) and of
// the pickles at the start of a legacy file.
const maxDataPkl = 64 << 20

// maxPickleInt bounds the bytes of one integer (LONG4, or the decimal text
// of INT and LONG): the decoder converts them in quadratic time, and no
// checkpoint needs more than a few (the legacy magic number has 10).
const maxPickleInt = 1024

// scanPickle walks a pickle's opcodes without executing them and checks
// that every opcode is known and every length-prefixed argument fits in the
// data, so that the decoder is never asked to allocate for data that is not
// there (a few corrupt bytes could otherwise claim gigabytes) and never
// meets an opcode it cannot dispatch. It returns the length of the pickle
// (up to and including its STOP opcode).
func scanPickle(b []byte) (int, error) {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-i) {
			return fmt.Errorf("opcode at %d wants %d bytes, %d remain", i-1, n, len(b)-i)
		}
		return nil
	}
	line := func() error {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return fmt.Errorf("unterminated argument at %d", i)
		}
		i += j + 1
		return nil
	}
	for i < len(b) {
		op := b[i]
		i++
		var fixed uint64
		var lenBytes int
		switch op {
		case '.': // STOP
			return i, nil
		case '(', '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94:
			continue
		case 'K', 'h', 'q', 0x80, 0x82:
			fixed = 1
		case 'M', 0x83:
			fixed = 2
		case 'J', 'j', 'r', 0x84:
			fixed = 4
		case 'G': // BINFLOAT
			fixed = 8
		case 0x95: // FRAME: the frame must fit in the data (decoders allocate
			// it before reading); the framed opcodes follow and are scanned.
			if err := need(8); err != nil {
				return 0, err
			}
			n := binary.LittleEndian.Uint64(b[i:])
			i += 8
			if err := need(n); err != nil {
				return 0, err
			}
			continue
		case 'I', 'L':
			start := i
			if err := line(); err != nil {
				return 0, err
			}
			if i-start > maxPickleInt {
				return 0, fmt.Errorf("integer of %d digits at %d", i-start-1, start-1)
			}
			continue
		case 'S', 'V', 'F', 'P', 'g', 'p':
			if err := line(); err != nil {
				return 0, err
			}
			continue
		case 'c', 'i':
			if err := line(); err != nil {
				return 0, err
			}
			if err := line(); err != nil {
				return 0, err
			}
			continue
		case 'U', 0x8c, 'C', 0x8a:
			lenBytes = 1
		case 'T', 'X', 'B', 0x8b:
			lenBytes = 4
		case 0x8d, 0x8e, 0x96:
			lenBytes = 8
		default:
			return 0, fmt.Errorf("unknown or unsupported opcode 0x%02x at %d", op, i-1)
		}
		if fixed > 0 {
			if err := need(fixed); err != nil {
				return 0, err
			}
			i += int(fixed)
			continue
		}
		if err := need(uint64(lenBytes)); err != nil {
			return 0, err
		}
		var n uint64
		switch lenBytes {
		case 1:
			n = uint64(b[i])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(b[i:]))
		case 8:
			n = binary.LittleEndian.Uint64(b[i:])
		}
		i += lenBytes
		if err := need(n); err != nil {
			return 0, err
		}
		if op == 0x8b && n > maxPickleInt { // LONG4
			return 0, fmt.Errorf("integer of %d bytes at %d", n, i-lenBytes-1)
		}
		i += int(n)
	}
	return 0, fmt.Errorf("no STOP opcode")
}
