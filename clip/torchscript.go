package clip

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"runtime/debug"
	"strings"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
	"github.com/x448/float16"
)

// This file reads PyTorch zip checkpoints — TorchScript archives
// (torch.jit.save: OpenAI's ViT-B-32.pt and its siblings) as well as
// torch.save'd state dicts — without executing anything. data.pkl is
// unpickled with a restricted class resolver that knows only module
// objects (__torch__.*, which become attribute maps), tensor rebuilding
// and storage types; any other global is refused with nn.ErrForbiddenPickle.
// Storages are read from the archive's data/<key> records on demand.

const maxTorchDepth = 64

// storageType is a torch.*Storage class named in a pickle.
type storageType struct {
	name  string
	dtype string // F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL
	size  int    // bytes per element
}

var storageTypes = map[string]storageType{
	"FloatStorage":    {"FloatStorage", "F32", 4},
	"HalfStorage":     {"HalfStorage", "F16", 2},
	"BFloat16Storage": {"BFloat16Storage", "BF16", 2},
	"DoubleStorage":   {"DoubleStorage", "F64", 8},
	"LongStorage":     {"LongStorage", "I64", 8},
	"IntStorage":      {"IntStorage", "I32", 4},
	"ShortStorage":    {"ShortStorage", "I16", 2},
	"CharStorage":     {"CharStorage", "I8", 1},
	"ByteStorage":     {"ByteStorage", "U8", 1},
	"BoolStorage":     {"BoolStorage", "BOOL", 1},
}

// storageRef is a persistent reference to data/<key> in the archive.
type storageRef struct {
	typ   storageType
	key   string
	numel int
}

// torchTensor is a tensor rebuilt from a pickle: a strided view of a
// storage, materialised later.
type torchTensor struct {
	storage *storageRef
	offset  int
	size    []int
	stride  []int
}

// torchClass is a TorchScript module class (__torch__.…); instances are
// attribute maps.
type torchClass struct{ name string }

// PyNew makes an empty instance (NEWOBJ).
func (c *torchClass) PyNew(args ...interface{}) (interface{}, error) {
	return &torchObject{class: c.name}, nil
}

// Call supports REDUCE on a class, which some pickles use instead of NEWOBJ.
func (c *torchClass) Call(args ...interface{}) (interface{}, error) {
	return &torchObject{class: c.name}, nil
}

// torchObject is a module (or other scripted object) with its attributes in
// pickle order.
type torchObject struct {
	class string
	keys  []string
	vals  []interface{}
}

func (o *torchObject) set(k string, v interface{}) {
	for i, kk := range o.keys {
		if kk == k {
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// PySetState receives the attribute dict of BUILD.
func (o *torchObject) PySetState(state interface{}) error {
	switch s := state.(type) {
	case *types.Dict:
		for _, e := range *s {
			k, ok := e.Key.(string)
			if !ok {
				return fmt.Errorf("%s: attribute name %T is not a string", o.class, e.Key)
			}
			o.set(k, e.Value)
		}
		return nil
	case *types.OrderedDict:
		for e := s.List.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*types.OrderedDictEntry)
			k, ok := ent.Key.(string)
			if !ok {
				return fmt.Errorf("%s: attribute name %T is not a string", o.class, ent.Key)
			}
			o.set(k, ent.Value)
		}
		return nil
	case nil:
		return nil
	}
	// Objects with a custom __getstate__ keep state we do not need; their
	// tensors (if any) are not part of a CLIP state dict.
	return nil
}

type rebuildTensor struct{}

// Call implements torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks[, metadata]).
func (rebuildTensor) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is %T", args[0])
	}
	off, ok := args[1].(int)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: offset is %T", args[1])
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %w", err)
	}
	return &torchTensor{storage: st, offset: off, size: size, stride: stride}, nil
}

type rebuildParameter struct{}

// Call implements torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks) by returning the tensor.
func (rebuildParameter) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

// passThrough implements torch.jit._pickle.restore_type_tag(value, tag) and
// the build_*list helpers of older TorchScript pickles, which return their
// first argument.
type passThrough struct{}

func (passThrough) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, errors.New("no arguments")
	}
	return args[0], nil
}

func intTuple(v interface{}) ([]int, error) {
	var items []interface{}
	switch t := v.(type) {
	case *types.Tuple:
		items = *t
	case *types.List:
		items = *t
	default:
		return nil, fmt.Errorf("%T is not a tuple", v)
	}
	out := make([]int, len(items))
	for i, it := range items {
		n, ok := it.(int)
		if !ok {
			return nil, fmt.Errorf("element %d is %T, not an int", i, it)
		}
		out[i] = n
	}
	return out, nil
}

// torchArchive is what readTorchZip finds in a PyTorch zip archive.
type torchArchive struct {
	// tensors by dotted name, as state_dict() names them.
	tensors map[string]*tensor.Tensor
	// ints are the integer attributes of TorchScript modules by dotted name
	// (such as "transformer.resblocks.0.attn.num_heads").
	ints map[string]int
	// torchScript is set for archives written by torch.jit.save.
	torchScript bool
}

// readTorchZip reads every tensor reachable from a PyTorch zip archive's
// data.pkl: a state dict (nested dicts joined with dots) or a TorchScript
// module tree (attributes joined with dots, as state_dict() names them).
func readTorchZip(file string) (arch *torchArchive, err error) {
	var torchScript bool
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: pickle decoder failed: %v\n%s", file, nn.ErrCorruptCheckpoint, r, debug.Stack())
		}
	}()
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, nn.ErrCorruptCheckpoint, err)
	}
	defer zr.Close()
	records := map[string]*zip.File{}
	var dataPkl *zip.File
	for _, f := range zr.File {
		records[f.Name] = f
		if path.Base(f.Name) == "data.pkl" && (dataPkl == nil || len(f.Name) < len(dataPkl.Name)) {
			dataPkl = f
		}
	}
	if dataPkl == nil {
		return nil, fmt.Errorf("%s: %w: no data.pkl in the archive", file, nn.ErrCorruptCheckpoint)
	}
	prefix := path.Dir(dataPkl.Name)
	if prefix == "." {
		prefix = ""
	} else {
		prefix += "/"
	}
	_, torchScript = records[prefix+"constants.pkl"]

	if dataPkl.UncompressedSize64 > nn.MaxDataPkl {
		return nil, fmt.Errorf("%s: %w: data.pkl of %d bytes (at most %d)", file, nn.ErrCorruptCheckpoint, dataPkl.UncompressedSize64, nn.MaxDataPkl)
	}
	rc, err := dataPkl.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, nn.ErrCorruptCheckpoint, err)
	}
	pkl, err := io.ReadAll(io.LimitReader(rc, nn.MaxDataPkl+1))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: data.pkl: %v", file, nn.ErrCorruptCheckpoint, err)
	}
	if err := nn.ScanPickle(pkl); err != nil {
		return nil, fmt.Errorf("%s: %w: data.pkl: %v", file, nn.ErrCorruptCheckpoint, err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = func(module, name string) (interface{}, error) {
		full := module + "." + name
		switch {
		case module == "torch._utils" && name == "_rebuild_tensor_v2":
			return rebuildTensor{}, nil
		case module == "torch._utils" && name == "_rebuild_parameter":
			return rebuildParameter{}, nil
		case module == "torch" && strings.HasSuffix(name, "Storage"):
			if st, ok := storageTypes[name]; ok {
				return st, nil
			}
			return nil, fmt.Errorf("%w: storage %s", nn.ErrUnsupportedDType, full)
		case torchScript && (module == "__torch__" || strings.HasPrefix(module, "__torch__.")):
			return &torchClass{name: full}, nil
		case torchScript && module == "torch.jit._pickle" &&
			(name == "restore_type_tag" || strings.HasPrefix(name, "build_") && strings.HasSuffix(name, "list")):
			return passThrough{}, nil
		}
		return nil, fmt.Errorf("%w %s", nn.ErrForbiddenPickle, full)
	}
	storages := map[string]*storageRef{}
	u.PersistentLoad = func(pid interface{}) (interface{}, error) {
		t, ok := pid.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("persistent id %v is not a storage tuple", pid)
		}
		if s, _ := t.Get(0).(string); s != "storage" {
			return nil, fmt.Errorf("persistent id of kind %v", t.Get(0))
		}
		typ, ok1 := t.Get(1).(storageType)
		key, ok2 := t.Get(2).(string)
		numel, ok3 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || numel < 0 || key == "" || strings.ContainsAny(key, `/\`) || strings.Contains(key, "..") {
			return nil, fmt.Errorf("malformed storage reference %v", pid)
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		s := &storageRef{typ: typ, key: key, numel: numel}
		storages[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		if errors.Is(err, nn.ErrForbiddenPickle) || errors.Is(err, nn.ErrUnsupportedDType) {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return nil, fmt.Errorf("%s: %w: %v", file, nn.ErrCorruptCheckpoint, err)
	}
	found := map[string]*torchTensor{}
	ints := map[string]int{}
	if err := collectTensors(obj, "", 0, found, ints); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, nn.ErrCorruptCheckpoint, err)
	}
	// Read each storage once, then cut the tensors out of it.
	raw := map[string][]byte{}
	tensors := make(map[string]*tensor.Tensor, len(found))
	for name, tt := range found {
		st := tt.storage
		b, ok := raw[st.key]
		if !ok {
			rec := records[prefix+"data/"+st.key]
			if rec == nil {
				return nil, fmt.Errorf("%s: %w: tensor %s: storage data/%s missing from the archive", file, nn.ErrCorruptCheckpoint, name, st.key)
			}
			want := uint64(st.numel) * uint64(st.typ.size)
			if rec.UncompressedSize64 < want {
				return nil, fmt.Errorf("%s: %w: tensor %s: storage data/%s holds %d bytes, %d %s elements need %d", file, nn.ErrCorruptCheckpoint, name, st.key, rec.UncompressedSize64, st.numel, st.typ.name, want)
			}
			r, err := rec.Open()
			if err != nil {
				return nil, fmt.Errorf("%s: %w: storage data/%s: %v", file, nn.ErrCorruptCheckpoint, st.key, err)
			}
			b = make([]byte, want)
			_, err = io.ReadFull(r, b)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w: storage data/%s: %v", file, nn.ErrCorruptCheckpoint, st.key, err)
			}
			raw[st.key] = b
		}
		t, err := materialize(tt, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: tensor %s: %v", file, nn.ErrCorruptCheckpoint, name, err)
		}
		tensors[name] = t
	}
	return &torchArchive{tensors: tensors, ints: ints, torchScript: torchScript}, nil
}

// collectTensors walks dicts and module objects, naming tensors by their
// dotted attribute path.
func collectTensors(obj interface{}, prefix string, depth int, out map[string]*torchTensor, ints map[string]int) error {
	if depth > maxTorchDepth {
		return fmt.Errorf("objects nested deeper than %d", maxTorchDepth)
	}
	join := func(k interface{}) string {
		s := fmt.Sprint(k)
		if prefix == "" {
			return s
		}
		return prefix + "." + s
	}
	switch v := obj.(type) {
	case *torchTensor:
		out[prefix] = v
	case int:
		if ints != nil {
			ints[prefix] = v
		}
	case *torchObject:
		for i, k := range v.keys {
			if err := collectTensors(v.vals[i], join(k), depth+1, out, ints); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, e := range *v {
			if err := collectTensors(e.Value, join(e.Key), depth+1, out, nil); err != nil {
				return err
			}
		}
	case *types.OrderedDict:
		for e := v.List.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*types.OrderedDictEntry)
			if err := collectTensors(ent.Value, join(ent.Key), depth+1, out, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// materialize converts a strided view of raw storage bytes (little-endian)
// into a contiguous float32 tensor.
func materialize(tt *torchTensor, b []byte) (*tensor.Tensor, error) {
	if len(tt.size) != len(tt.stride) {
		return nil, fmt.Errorf("size %v with stride %v", tt.size, tt.stride)
	}
	n := 1
	last := tt.offset
	for i, d := range tt.size {
		if d < 0 || tt.stride[i] < 0 {
			return nil, fmt.Errorf("size %v stride %v", tt.size, tt.stride)
		}
		if d > 0 && n > math.MaxInt32*16/d {
			return nil, fmt.Errorf("size %v too large", tt.size)
		}
		n *= d
		if d > 0 {
			if tt.stride[i] > math.MaxInt32*16/max(d, 1) {
				return nil, fmt.Errorf("stride %v too large", tt.stride)
			}
			last += (d - 1) * tt.stride[i]
		}
	}
	if n > tt.storage.numel {
		// Only overlapping (e.g. zero) strides give a view more elements than
		// its storage; checkpoints do not hold such tensors, and honouring
		// one would let a tiny file demand any amount of memory.
		return nil, fmt.Errorf("shape %v (stride %v) has more elements than its storage of %d", tt.size, tt.stride, tt.storage.numel)
	}
	if tt.offset < 0 || (n > 0 && last >= tt.storage.numel) {
		return nil, fmt.Errorf("shape %v (offset %d, stride %v) exceeds its storage of %d elements", tt.size, tt.offset, tt.stride, tt.storage.numel)
	}
	var get func(i int) float32
	switch tt.storage.typ.dtype {
	case "F32":
		get = func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])) }
	case "F16":
		get = func(i int) float32 { return float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32() }
	case "BF16":
		get = func(i int) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16) }
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
		return nil, fmt.Errorf("%w: %s", nn.ErrUnsupportedDType, tt.storage.typ.name)
	}
	data := make([]float32, n)
	idx := make([]int, len(tt.size))
	for f := range n {
		off := tt.offset
		for d := range idx {
			off += idx[d] * tt.stride[d]
		}
		data[f] = get(off)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < tt.size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return tensor.FromData(data, tt.size...)
}
