package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// This file is the one restricted unpickler behind every PyTorch reader:
// torch.save'd state dicts (zip and legacy) and TorchScript archives
// (torch.jit.save: OpenAI's CLIP .pt files and their siblings). Nothing in
// a pickle is ever executed. The globals it resolves are
//
//   - torch.<T>Storage for the storage types below (others are refused
//     with ErrUnsupportedDType);
//   - torch._utils._rebuild_tensor_v2 and torch._utils._rebuild_parameter,
//     which become strided views of a storage;
//   - collections.OrderedDict (resolved by gopickle itself);
//   - in a TorchScript archive only: the module classes __torch__.*, whose
//     instances become attribute maps, and torch.jit._pickle's
//     restore_type_tag and build_*list helpers, which return their
//     argument.
//
// Any other global is refused with ErrForbiddenPickle.

// maxPickleDepth bounds the nesting of containers walked in a pickle.
const maxPickleDepth = 64

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

// storageRef is a persistent reference to a storage: a data/<key> record
// of a zip archive, or a storage following the pickles of a legacy file.
type storageRef struct {
	typ   storageType
	key   string
	numel int
}

// pickledTensor is a tensor rebuilt from a pickle: a strided view of a
// storage, materialised once the storages are read.
type pickledTensor struct {
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
	index map[string]int // keys[index[k]] == k
}

func (o *torchObject) set(k string, v interface{}) {
	if i, ok := o.index[k]; ok {
		o.vals[i] = v
		return
	}
	if o.index == nil {
		o.index = map[string]int{}
	}
	o.index[k] = len(o.keys)
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// PySetState receives the attribute dict of BUILD.
func (o *torchObject) PySetState(state interface{}) error {
	switch s := state.(type) {
	case *types.Dict:
		for _, e := range *s {
			if err := o.setAttr(e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	case *types.OrderedDict:
		for e := s.List.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*types.OrderedDictEntry)
			if err := o.setAttr(ent.Key, ent.Value); err != nil {
				return err
			}
		}
		return nil
	}
	// Objects with a custom __getstate__ keep state that holds no weights.
	return nil
}

// setAttr sets the attribute named key, which must be a string.
func (o *torchObject) setAttr(key, value any) error {
	k, ok := key.(string)
	if !ok {
		return fmt.Errorf("%s: attribute name %T is not a string", o.class, key)
	}
	o.set(k, value)
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
	return &pickledTensor{storage: st, offset: off, size: size, stride: stride}, nil
}

// passThrough implements the globals that return their first argument:
// torch._utils._rebuild_parameter(data, requires_grad, backward_hooks),
// and TorchScript's torch.jit._pickle.restore_type_tag(value, tag) and the
// build_*list helpers of older TorchScript pickles.
type passThrough struct{ name string }

// Call returns the first argument.
func (p passThrough) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%s: no arguments", p.name)
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

// findClass resolves the globals a pickle may name (see the top of this
// file); torchScript admits the TorchScript module classes.
func findClass(module, name string, torchScript bool) (interface{}, error) {
	full := module + "." + name
	switch {
	case full == "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{}, nil
	case full == "torch._utils._rebuild_parameter":
		return passThrough{name: name}, nil
	case module == "torch" && strings.HasSuffix(name, "Storage"):
		if st, ok := storageTypes[name]; ok {
			return st, nil
		}
		return nil, fmt.Errorf("%w: storage %s", ErrUnsupportedDType, full)
	case torchScript && (module == "__torch__" || strings.HasPrefix(module, "__torch__.")):
		return &torchClass{name: full}, nil
	case torchScript && module == "torch.jit._pickle" &&
		(name == "restore_type_tag" || strings.HasPrefix(name, "build_") && strings.HasSuffix(name, "list")):
		return passThrough{name: name}, nil
	}
	return nil, fmt.Errorf("%w %s", ErrForbiddenPickle, full)
}

// unpickle decodes one pickle held in b (checked with scanPickle first, so
// that corrupt length fields cannot make the decoder allocate for data
// that is not there). storage, when not nil, resolves persistent ids.
func unpickle(b []byte, torchScript bool, storage func(pid *types.Tuple) (interface{}, error)) (interface{}, error) {
	if _, err := scanPickle(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(b))
	u.FindClass = func(module, name string) (interface{}, error) {
		return findClass(module, name, torchScript)
	}
	u.PersistentLoad = func(pid interface{}) (interface{}, error) {
		t, ok := pid.(*types.Tuple)
		if !ok || storage == nil {
			return nil, fmt.Errorf("%w: persistent id %v", ErrCorrupt, pid)
		}
		return storage(t)
	}
	obj, err := u.Load()
	if err != nil {
		if errors.Is(err, ErrForbiddenPickle) || errors.Is(err, ErrUnsupportedDType) || errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return obj, nil
}

// storageKeyOK reports whether a storage key is a plain record name.
func storageKeyOK(key string) bool {
	return key != "" && !strings.ContainsAny(key, `/\`) && !strings.Contains(key, "..")
}

// storageRefs returns the persistent-id resolver of a pickle: ids are
// ("storage", type, key, location, numel[, view metadata]); legacy files
// add view metadata, which must be None. The same key always yields the
// same reference, recorded in refs.
func storageRefs(refs map[string]*storageRef) func(*types.Tuple) (interface{}, error) {
	return func(t *types.Tuple) (interface{}, error) {
		if t.Len() < 5 {
			return nil, fmt.Errorf("%w: persistent id %v is not a storage tuple", ErrCorrupt, t)
		}
		if s, _ := t.Get(0).(string); s != "storage" {
			return nil, fmt.Errorf("%w: persistent id of kind %v", ErrForbiddenPickle, t.Get(0))
		}
		typ, ok1 := t.Get(1).(storageType)
		key, ok2 := t.Get(2).(string)
		numel, ok3 := t.Get(4).(int)
		// numel·size must not overflow: the byte count is checked against
		// the file before anything is read or allocated.
		if !ok1 || !ok2 || !ok3 || numel < 0 || numel > math.MaxInt/16 || !storageKeyOK(key) {
			return nil, fmt.Errorf("%w: malformed storage reference %v", ErrCorrupt, t)
		}
		if t.Len() > 5 && t.Get(5) != nil {
			return nil, fmt.Errorf("%w: storage %s: views of storages are not supported", ErrCorrupt, key)
		}
		if s, ok := refs[key]; ok {
			if s.typ != typ || s.numel != numel {
				return nil, fmt.Errorf("%w: storage %s referenced as %s[%d] and %s[%d]", ErrCorrupt, key, s.typ.name, s.numel, typ.name, numel)
			}
			return s, nil
		}
		s := &storageRef{typ: typ, key: key, numel: numel}
		refs[key] = s
		return s, nil
	}
}

// maxPickleNodes bounds the number of objects walked in a pickle. The
// memo lets a pickle of a few hundred bytes reference one container from
// many places, a tree of exponential size; real checkpoints (a state dict,
// a TorchScript module tree) have at most tens of thousands of leaves.
const maxPickleNodes = 1 << 18

// maxPickleNames bounds the bytes of the dotted names built while walking
// (long keys repeated down shared containers would otherwise make names of
// any total size).
const maxPickleNames = 16 << 20

// pickleWalk collects the tensors reachable from an unpickled object
// through dicts and TorchScript module objects, by dotted name (as
// state_dict() names them), and every other leaf into extra.
type pickleWalk struct {
	tensors map[string]*pickledTensor
	extra   map[string]any
	nodes   int
	names   int // bytes of the names built
}

func (w *pickleWalk) walk(obj interface{}, prefix string, depth int) error {
	if depth > maxPickleDepth {
		return fmt.Errorf("%w: containers nested deeper than %d", ErrCorrupt, maxPickleDepth)
	}
	if w.nodes++; w.nodes > maxPickleNodes {
		return fmt.Errorf("%w: more than %d objects", ErrCorrupt, maxPickleNodes)
	}
	join := func(k interface{}) string {
		s := fmt.Sprint(k)
		if prefix != "" {
			s = prefix + "." + s
		}
		w.names += len(s)
		return s
	}
	if w.names > maxPickleNames {
		return fmt.Errorf("%w: more than %d bytes of tensor names", ErrCorrupt, maxPickleNames)
	}
	switch v := obj.(type) {
	case *pickledTensor:
		w.tensors[prefix] = v
	case *torchObject:
		for i, k := range v.keys {
			if err := w.walk(v.vals[i], join(k), depth+1); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, e := range *v {
			if err := w.walk(e.Value, join(e.Key), depth+1); err != nil {
				return err
			}
		}
	case *types.OrderedDict:
		for e := v.List.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*types.OrderedDictEntry)
			if err := w.walk(ent.Value, join(ent.Key), depth+1); err != nil {
				return err
			}
		}
	default:
		w.extra[prefix] = v
	}
	return nil
}
