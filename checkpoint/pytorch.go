package checkpoint

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path"
	"runtime/debug"
	"sort"
	"unsafe"

	"github.com/goformer/goformer/tensor"
	"github.com/nlpodyssey/gopickle/types"
)

// OpenPyTorch reads a PyTorch checkpoint into a Store: a torch.save'd
// state dict (`pytorch_model.bin`, `.pt`, `.pth`; the zip format or the
// legacy pickle-stream format) or a TorchScript archive (torch.jit.save).
// Tensors are named by their dotted path: nested dicts (such as OpenAI
// Whisper's {"dims": …, "model_state_dict": …}) and TorchScript module
// attributes are joined with dots, as state_dict() names them. F16 and
// BF16 tensors stay 16-bit in the store (see Store.DType and Weights.Half).
//
// The non-tensor leaves (numbers, strings, TorchScript module attributes
// such as "transformer.resblocks.0.attn.num_heads") are returned in extra
// as gopickle decodes them (int, float64, string, bool, nil, *big.Int, …).
//
// Nothing in the file is executed: a pickle naming any global other than
// the tensor-storage classes (and, in a TorchScript archive, its module
// classes) is refused with ErrForbiddenPickle; a malformed file is reported
// with ErrCorrupt.
func OpenPyTorch(path string) (s *Store, extra map[string]any, err error) {
	p, err := readPyTorch(path)
	if err != nil {
		return nil, nil, err
	}
	s = NewStore(path, p.tensors)
	if len(p.half) > 0 {
		s.half = p.half
	}
	return s, p.extra, nil
}

// pyTorchFile is what readPyTorch finds in a checkpoint.
type pyTorchFile struct {
	tensors map[string]*tensor.Tensor // F32 and converted types
	half    map[string]*Half          // F16 and BF16, kept 16-bit
	extra   map[string]any
}

func readPyTorch(file string) (p *pyTorchFile, err error) {
	// gopickle is third-party parsing code: a malformed file must come back
	// as an error, not a crash of the caller.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%s: %w: pickle decoder failed: %v\n%s", file, ErrCorrupt, r, debug.Stack())
		}
	}()
	return withFile(file, func(f *os.File, size int64) (*pyTorchFile, error) {
		var p *pyTorchFile
		var err error
		if zr, zerr := zip.NewReader(f, size); zerr == nil {
			p, err = readZip(zr, size)
		} else {
			p, err = readLegacy(f, size)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return p, nil
	})
}

// readZip reads a zip checkpoint: data.pkl (the shortest path of that
// name), a state dict or, when the archive has a constants.pkl beside it, a
// TorchScript module tree; storages are the data/<key> records beside it.
func readZip(zr *zip.Reader, fileSize int64) (*pyTorchFile, error) {
	records := map[string]*zip.File{}
	var dataPkl *zip.File
	for _, f := range zr.File {
		records[f.Name] = f
		if path.Base(f.Name) == "data.pkl" && (dataPkl == nil || len(f.Name) < len(dataPkl.Name)) {
			dataPkl = f
		}
	}
	if dataPkl == nil {
		return nil, fmt.Errorf("%w: no data.pkl in the archive", ErrCorrupt)
	}
	prefix := path.Dir(dataPkl.Name)
	if prefix == "." {
		prefix = ""
	} else {
		prefix += "/"
	}
	_, torchScript := records[prefix+"constants.pkl"]

	pkl, err := readRecord(dataPkl, maxDataPkl, fileSize)
	if err != nil {
		return nil, fmt.Errorf("%w: data.pkl: %v", ErrCorrupt, err)
	}
	refs := map[string]*storageRef{}
	obj, err := unpickle(pkl, torchScript, storageRefs(refs))
	if err != nil {
		return nil, err
	}
	return collect(obj, func(st *storageRef) ([]byte, error) {
		rec := records[prefix+"data/"+st.key]
		if rec == nil {
			return nil, fmt.Errorf("storage data/%s missing from the archive", st.key)
		}
		b, err := readRecord(rec, uint64(st.numel)*uint64(st.typ.size), fileSize)
		if err != nil {
			return nil, fmt.Errorf("storage data/%s: %v", st.key, err)
		}
		return b, nil
	}, true)
}

// readRecord reads the first want bytes of a zip record, or the whole of a
// record up to want bytes when want is maxDataPkl. The sizes the archive
// claims are checked against the file before anything is allocated.
func readRecord(rec *zip.File, want uint64, fileSize int64) ([]byte, error) {
	whole := want == maxDataPkl
	if whole {
		if rec.UncompressedSize64 > maxDataPkl {
			return nil, fmt.Errorf("%d bytes (at most %d)", rec.UncompressedSize64, maxDataPkl)
		}
		want = rec.UncompressedSize64
	} else if rec.UncompressedSize64 < want {
		return nil, fmt.Errorf("holds %d bytes, needs %d", rec.UncompressedSize64, want)
	}
	// A stored record's bytes are in the file; a compressed one expands at
	// most about a thousandfold (deflate).
	if rec.CompressedSize64 > uint64(fileSize) ||
		(rec.Method == zip.Store && rec.CompressedSize64 < want) ||
		(rec.Method != zip.Store && want/1032 > rec.CompressedSize64) {
		return nil, fmt.Errorf("record sizes %d/%d do not fit a file of %d bytes", rec.CompressedSize64, rec.UncompressedSize64, fileSize)
	}
	r, err := rec.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, want)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// legacyMagic is the magic number that starts a legacy (pre-1.6,
// _use_new_zipfile_serialization=False) torch.save file.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// readLegacy reads a legacy torch.save stream: pickles of the magic
// number, the protocol version (1001) and the system info, the object
// pickle, the list of storage keys, then each storage as an int64 element
// count followed by its bytes.
func readLegacy(f *os.File, size int64) (*pyTorchFile, error) {
	b, unmap, err := mapFile(f, size)
	if err != nil {
		return nil, err
	}
	if unmap != nil {
		defer unmap()
	}
	off := 0
	next := func(what string, storage func(*types.Tuple) (interface{}, error)) (interface{}, error) {
		n, err := scanPickle(b[off:min(len(b), off+maxDataPkl)])
		if err != nil {
			return nil, fmt.Errorf("%w: not a PyTorch checkpoint (zip or legacy): %s: %v", ErrCorrupt, what, err)
		}
		obj, err := unpickle(b[off:off+n], false, storage)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		off += n
		return obj, nil
	}
	magic, err := next("magic number", nil)
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fmt.Errorf("%w: not a PyTorch checkpoint (zip or legacy): bad magic number", ErrCorrupt)
	}
	if v, err := next("protocol version", nil); err != nil {
		return nil, err
	} else if v != 1001 {
		return nil, fmt.Errorf("%w: legacy protocol version %v, want 1001", ErrCorrupt, v)
	}
	info, err := next("system info", nil)
	if err != nil {
		return nil, err
	}
	if d, ok := info.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, fmt.Errorf("%w: big-endian legacy checkpoint", ErrUnsupportedDType)
		}
	}
	refs := map[string]*storageRef{}
	obj, err := next("object pickle", storageRefs(refs))
	if err != nil {
		return nil, err
	}
	rawKeys, err := next("storage keys", nil)
	if err != nil {
		return nil, err
	}
	list, ok := rawKeys.(*types.List)
	if !ok {
		return nil, fmt.Errorf("%w: storage key list is %T", ErrCorrupt, rawKeys)
	}
	data := map[string][]byte{}
	for _, k := range *list {
		key, ok := k.(string)
		st := refs[key]
		if !ok || st == nil || data[key] != nil {
			return nil, fmt.Errorf("%w: storage key %v not referenced by the pickle", ErrCorrupt, k)
		}
		if len(b)-off < 8 {
			return nil, fmt.Errorf("%w: storage %s: file ends before its size", ErrCorrupt, key)
		}
		numel := binary.LittleEndian.Uint64(b[off:])
		off += 8
		if numel != uint64(st.numel) {
			return nil, fmt.Errorf("%w: storage %s holds %d elements, the pickle says %d", ErrCorrupt, key, numel, st.numel)
		}
		n := uint64(st.numel) * uint64(st.typ.size)
		if n > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: storage %s: %d bytes, %d remain in the file", ErrCorrupt, key, n, len(b)-off)
		}
		data[key] = b[off : off+int(n)]
		off += int(n)
	}
	// The storages alias the mapping, unmapped on return: collect copies.
	return collect(obj, func(st *storageRef) ([]byte, error) {
		if d, ok := data[st.key]; ok {
			return d, nil
		}
		return nil, fmt.Errorf("storage %s missing from the file", st.key)
	}, false)
}

// collect walks the unpickled object and materialises every tensor from
// its storage, read once through read. alias lets tensors share the bytes
// read returns (fresh memory) instead of copying them.
func collect(obj interface{}, read func(*storageRef) ([]byte, error), alias bool) (*pyTorchFile, error) {
	p := &pyTorchFile{tensors: map[string]*tensor.Tensor{}, half: map[string]*Half{}, extra: map[string]any{}}
	w := &pickleWalk{tensors: map[string]*pickledTensor{}, extra: p.extra}
	if err := w.walk(obj, "", 0); err != nil {
		return nil, err
	}
	found := w.tensors
	// Group the tensors by storage, so that each storage's bytes are held
	// only while its tensors are cut out of them.
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := found[names[i]].storage.key, found[names[j]].storage.key
		return a < b || a == b && names[i] < names[j]
	})
	var raw []byte
	var rawKey string
	for _, name := range names {
		pt := found[name]
		if raw == nil || rawKey != pt.storage.key {
			b, err := read(pt.storage)
			if err != nil {
				return nil, fmt.Errorf("%w: tensor %s: %v", ErrCorrupt, name, err)
			}
			raw, rawKey = b, pt.storage.key
		}
		if err := p.materialize(name, pt, raw, alias); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
	}
	return p, nil
}

// materialize cuts a strided view out of its storage's little-endian bytes:
// F16 and BF16 into a Half, every other type into a float32 tensor. A
// contiguous view is aliased rather than copied when alias allows and the
// bytes are aligned.
func (p *pyTorchFile) materialize(name string, pt *pickledTensor, b []byte, alias bool) error {
	numel := pt.storage.numel
	if len(pt.size) != len(pt.stride) {
		return fmt.Errorf("%w: size %v with stride %v", ErrCorrupt, pt.size, pt.stride)
	}
	n, ok := checkedNumel(pt.size)
	if !ok {
		return fmt.Errorf("%w: shape %v is invalid or overflows", ErrCorrupt, pt.size)
	}
	last := pt.offset
	contiguous := true
	for i, want := len(pt.size)-1, 1; i >= 0; i-- {
		d := pt.size[i]
		if pt.stride[i] < 0 {
			return fmt.Errorf("%w: negative stride %v", ErrCorrupt, pt.stride)
		}
		if d > 0 {
			if pt.stride[i] > 0 && d-1 > (math.MaxInt32*64)/pt.stride[i] {
				return fmt.Errorf("%w: stride overflow %v", ErrCorrupt, pt.stride)
			}
			last += (d - 1) * pt.stride[i]
		}
		if d > 1 && pt.stride[i] != want {
			contiguous = false
		}
		want *= d
	}
	// A checkpoint's tensor never has more elements than its storage (only
	// expanded views with zero strides do, and those are not saved); refusing
	// them keeps a few hostile bytes from asking for gigabytes.
	if n > numel {
		return fmt.Errorf("%w: shape %v (stride %v) has more elements than its storage of %d", ErrCorrupt, pt.size, pt.stride, numel)
	}
	if pt.offset < 0 || (n > 0 && last >= numel) {
		return fmt.Errorf("%w: shape %v (offset %d, stride %v) exceeds its storage of %d elements", ErrCorrupt, pt.size, pt.offset, pt.stride, numel)
	}
	dt, size := pt.storage.typ.dtype, pt.storage.typ.size
	if len(b) < numel*size {
		return fmt.Errorf("%w: storage of %d bytes, %d %s elements need %d", ErrCorrupt, len(b), numel, pt.storage.typ.name, numel*size)
	}
	aligned := n == 0 || uintptr(unsafe.Pointer(&b[pt.offset*size]))%uintptr(size) == 0
	if contiguous && alias && aligned && nativeLittleEndian && (dt == "F32" || dt == "F16" || dt == "BF16") {
		// b is this file's own memory and nobody writes to it.
		raw := b[pt.offset*size : (pt.offset+n)*size]
		if dt == "F32" {
			var out []float32
			if n > 0 {
				out = unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), n)
			}
			t, err := tensor.FromData(out, pt.size...)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			p.tensors[name] = t
			return nil
		}
		h, err := newHalf(dt, pt.size, raw)
		if err != nil {
			return err
		}
		p.half[name] = h
		return nil
	}
	// The strided walk: element f of the view is at storage index off.
	idx := make([]int, len(pt.size))
	each := func(f func(i, off int)) {
		for i := 0; i < n; i++ {
			off := pt.offset
			for d := range idx {
				off += idx[d] * pt.stride[d]
			}
			f(i, off)
			for d := len(idx) - 1; d >= 0; d-- {
				idx[d]++
				if idx[d] < pt.size[d] {
					break
				}
				idx[d] = 0
			}
		}
	}
	if dt == "F16" || dt == "BF16" {
		h := &Half{Kind: tensor.WeightF16, Shape: append([]int(nil), pt.size...), Data: make([]uint16, n)}
		if dt == "BF16" {
			h.Kind = tensor.WeightBF16
		}
		each(func(i, off int) { h.Data[i] = binary.LittleEndian.Uint16(b[2*off:]) })
		p.half[name] = h
		return nil
	}
	var get func(i int) float32
	switch dt {
	case "F32":
		get = func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])) }
	case "F64":
		get = func(i int) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))) }
	case "I64":
		get = func(i int) float32 { return float32(int64(binary.LittleEndian.Uint64(b[8*i:]))) }
	case "I32":
		get = func(i int) float32 { return float32(int32(binary.LittleEndian.Uint32(b[4*i:]))) }
	case "I16":
		get = func(i int) float32 { return float32(int16(binary.LittleEndian.Uint16(b[2*i:]))) }
	case "I8":
		get = func(i int) float32 { return float32(int8(b[i])) }
	case "U8", "BOOL":
		get = func(i int) float32 { return float32(b[i]) }
	default:
		return fmt.Errorf("%w: %s", ErrUnsupportedDType, pt.storage.typ.name)
	}
	data := make([]float32, n)
	each(func(i, off int) { data[i] = get(off) })
	t, err := tensor.FromData(data, pt.size...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	p.tensors[name] = t
	return nil
}
