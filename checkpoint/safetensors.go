package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"unsafe"

	"github.com/goformer/goformer/tensor"
	"github.com/x448/float16"
)

// maxSafetensorsHeader bounds the JSON header (the reference implementation
// uses 100 MB) so a hostile length cannot make us allocate gigabytes.
const maxSafetensorsHeader = 100 << 20

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// Safetensors is an open safetensors file. Its data is memory-mapped where
// the platform allows, so F32 tensors are returned without copying; F16, BF16
// and F64 tensors are converted to float32 on access. Close releases the
// mapping; tensors returned zero-copy must not be used after Close unless the
// file was opened with ReadSafetensors (which copies into memory).
type Safetensors struct {
	Path     string
	Metadata map[string]string
	infos    map[string]TensorInfo
	data     []byte // tensor byte buffer (after the header)
	mapped   []byte // the whole file mapping (nil when the file was read)
	unmap    func() error
}

func dtypeSize(dt string) int {
	switch dt {
	case "F64", "I64", "U64":
		return 8
	case "F32", "I32", "U32":
		return 4
	case "F16", "BF16", "I16", "U16":
		return 2
	case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2":
		return 1
	}
	return 0
}

// OpenSafetensors memory-maps a safetensors file and validates its header
// against the file size before anything is read.
func OpenSafetensors(path string) (*Safetensors, error) {
	return withFile(path, func(f *os.File, size int64) (*Safetensors, error) {
		buf, unmap, err := mapFile(f, size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s, err := parseSafetensors(path, buf)
		if err != nil {
			if unmap != nil {
				unmap()
			}
			return nil, err
		}
		s.unmap = unmap
		if unmap != nil {
			s.mapped = buf
		}
		return s, nil
	})
}

// withFile opens path and calls read with the file and its size; the file
// is closed when read returns.
func withFile[T any](path string, read func(f *os.File, size int64) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return zero, err
	}
	return read(f, st.Size())
}

// ParseSafetensors reads a safetensors file held in memory (name is used in
// error messages only). The returned tensors may alias buf.
func ParseSafetensors(name string, buf []byte) (*Safetensors, error) {
	return parseSafetensors(name, buf)
}

func parseSafetensors(path string, buf []byte) (*Safetensors, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("%s: %w: file of %d bytes is too short for a safetensors header", path, ErrCorrupt, len(buf))
	}
	hlen := binary.LittleEndian.Uint64(buf[:8])
	if hlen > maxSafetensorsHeader {
		return nil, fmt.Errorf("%s: %w: header length %d exceeds the %d-byte limit", path, ErrCorrupt, hlen, maxSafetensorsHeader)
	}
	if hlen > uint64(len(buf)-8) {
		return nil, fmt.Errorf("%s: %w: header length %d is larger than the file (%d bytes)", path, ErrCorrupt, hlen, len(buf))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+hlen], &raw); err != nil {
		return nil, fmt.Errorf("%s: %w: header is not valid JSON: %v", path, ErrCorrupt, err)
	}
	s := &Safetensors{Path: path, infos: make(map[string]TensorInfo, len(raw)), data: buf[8+hlen:]}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &s.Metadata); err != nil {
				return nil, fmt.Errorf("%s: %w: bad __metadata__: %v", path, ErrCorrupt, err)
			}
			continue
		}
		var ti TensorInfo
		if err := json.Unmarshal(msg, &ti); err != nil {
			return nil, fmt.Errorf("%s: %w: tensor %q: %v", path, ErrCorrupt, name, err)
		}
		if err := checkInfo(ti, len(s.data)); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		s.infos[name] = ti
	}
	return s, nil
}

func checkInfo(ti TensorInfo, dataLen int) error {
	size := dtypeSize(ti.DType)
	if size == 0 {
		return fmt.Errorf("%w %q", ErrUnsupportedDType, ti.DType)
	}
	n, ok := checkedNumel(ti.Shape)
	if !ok {
		return fmt.Errorf("%w: shape %v is invalid or overflows", ErrCorrupt, ti.Shape)
	}
	begin, end := ti.Offsets[0], ti.Offsets[1]
	if begin < 0 || end < begin || end > dataLen {
		return fmt.Errorf("%w: data offsets [%d, %d) outside the %d-byte data section", ErrCorrupt, begin, end, dataLen)
	}
	if n > math.MaxInt/size || end-begin != n*size {
		return fmt.Errorf("%w: %d bytes stored for %s shape %v (needs %d)", ErrCorrupt, end-begin, ti.DType, ti.Shape, n*size)
	}
	return nil
}

// checkedNumel multiplies dimensions, reporting false on a negative
// dimension or overflow.
func checkedNumel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt32*64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// Names returns the tensor names in sorted order.
func (s *Safetensors) Names() []string {
	names := make([]string, 0, len(s.infos))
	for n := range s.infos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info returns the header entry of a tensor.
func (s *Safetensors) Info(name string) (TensorInfo, bool) {
	ti, ok := s.infos[name]
	return ti, ok
}

// Bytes returns the raw little-endian bytes of a tensor (aliasing the file).
func (s *Safetensors) Bytes(name string) ([]byte, error) {
	ti, ok := s.infos[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", s.Path, name)
	}
	return s.data[ti.Offsets[0]:ti.Offsets[1]], nil
}

// Tensor returns a tensor as float32. F32 data that is suitably aligned is
// returned without copying (aliasing the mapping); other float and integer
// dtypes are converted.
func (s *Safetensors) Tensor(name string) (*tensor.Tensor, error) {
	ti, ok := s.infos[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", s.Path, name)
	}
	raw := s.data[ti.Offsets[0]:ti.Offsets[1]]
	shape := ti.Shape
	n := len(raw) / dtypeSize(ti.DType)
	var out []float32
	switch ti.DType {
	case "F32":
		if n >= smallTensor && uintptr(unsafe.Pointer(&raw[0]))%4 == 0 && nativeLittleEndian {
			out = unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), n)
		} else {
			out = make([]float32, n)
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
	default:
		out = make([]float32, n)
		if err := convertToF32(ti.DType, raw, out); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", s.Path, name, err)
		}
		// The converted copy is what is used: let the file's pages go.
		releaseMappedBytes(raw)
	}
	return tensor.FromData(out, shape...)
}

// Int64s returns an integer tensor's values (I64, I32, I16, I8, U8, BOOL) and
// its shape.
func (s *Safetensors) Int64s(name string) ([]int64, []int, error) {
	ti, ok := s.infos[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no tensor %q", s.Path, name)
	}
	raw := s.data[ti.Offsets[0]:ti.Offsets[1]]
	n := len(raw) / dtypeSize(ti.DType)
	out := make([]int64, n)
	for i := range out {
		switch ti.DType {
		case "I64", "U64":
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		case "I32":
			out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		case "U32":
			out[i] = int64(binary.LittleEndian.Uint32(raw[4*i:]))
		case "I16":
			out[i] = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
		case "U16":
			out[i] = int64(binary.LittleEndian.Uint16(raw[2*i:]))
		case "I8":
			out[i] = int64(int8(raw[i]))
		case "U8", "BOOL":
			out[i] = int64(raw[i])
		default:
			return nil, nil, fmt.Errorf("%s: tensor %q: %w %s for integers", s.Path, name, ErrUnsupportedDType, ti.DType)
		}
	}
	return out, append([]int(nil), ti.Shape...), nil
}

// Close releases the file mapping.
func (s *Safetensors) Close() error {
	if s.unmap != nil {
		err := s.unmap()
		s.unmap = nil
		return err
	}
	return nil
}

// convertToF32 widens raw little-endian values of dtype into out.
func convertToF32(dtype string, raw []byte, out []float32) error {
	switch dtype {
	case "F16":
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case "I64":
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case "I32":
		for i := range out {
			out[i] = float32(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case "U8", "BOOL":
		for i := range out {
			out[i] = float32(raw[i])
		}
	case "I8":
		for i := range out {
			out[i] = float32(int8(raw[i]))
		}
	default:
		return fmt.Errorf("%w %q", ErrUnsupportedDType, dtype)
	}
	return nil
}

var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// ZeroCopy reports whether this platform reads F32 safetensors tensors
// without copying them (4-byte aligned ones of at least 16384 values alias
// the file mapping: a unix system on a little-endian machine). IsMapped
// tells for one tensor.
var ZeroCopy = mapsFiles && nativeLittleEndian

// smallTensor is the size (values) below which F32 tensors are copied
// rather than aliased: biases and norms are read at every call, and each
// read of a few kilobytes would keep the 64 KiB around it mapped (the
// kernel maps a faulting page's neighbours along); copied, they leave the
// mapping alone once the model is built (Store.Prepare drops its pages).
const smallTensor = 16 << 10
