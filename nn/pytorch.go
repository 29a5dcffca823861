package nn

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"math"
	pathpkg "path"
	"runtime/debug"

	"github.com/goformer/goformer/tensor"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// maxPickleDepth bounds the nesting of containers walked in a pickle.
const maxPickleDepth = 64

// allowedGlobals are the only pickle globals a checkpoint may name beyond
// the container types gopickle builds itself (OrderedDict, object,
// copy_reg._reconstructor). Everything else is refused: nothing from a pickle
// is ever executed, but an unknown global means a file we do not understand.
var allowedGlobals = map[string]bool{
	"torch._utils._rebuild_parameter": true,
	"torch._utils._rebuild_tensor_v2": true,
	"torch.FloatStorage":              true,
	"torch.HalfStorage":               true,
	"torch.BFloat16Storage":           true,
	"torch.DoubleStorage":             true,
	"torch.LongStorage":               true,
	"torch.IntStorage":                true,
	"torch.ShortStorage":              true,
	"torch.CharStorage":               true,
	"torch.ByteStorage":               true,
	"torch.BoolStorage":               true,
	"collections.OrderedDict":         true,
	"builtins.set":                    true,
}

// rebuildParameter implements torch._utils._rebuild_parameter(data,
// requires_grad, backward_hooks) by returning the tensor itself.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

func restrictedUnpickler(r io.Reader) pickle.Unpickler {
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (interface{}, error) {
		full := module + "." + name
		if full == "torch._utils._rebuild_parameter" {
			return rebuildParameter{}, nil
		}
		// gopickle resolves the storage classes and _rebuild_tensor_v2 before
		// reaching this fallback; anything arriving here is not allowed.
		return nil, fmt.Errorf("%w %s", ErrForbiddenPickle, full)
	}
	return u
}

// LoadPyTorch reads a PyTorch checkpoint (`pytorch_model.bin`, `.pt`: the
// zip format or the legacy tar/pickle format) and returns every tensor in its
// state dict, keyed by dotted name. Nested dicts (such as OpenAI Whisper's
// {"dims": …, "model_state_dict": …}) are flattened with dots. Non-tensor
// leaves are returned in extra. A pickle naming any global other than the
// tensor-storage classes is refused with ErrForbiddenPickle.
func LoadPyTorch(path string) (tensors map[string]*tensor.Tensor, extra map[string]any, err error) {
	tensors, _, extra, err = loadPyTorch(path)
	return tensors, extra, err
}

// OpenPyTorch reads a PyTorch checkpoint as LoadPyTorch does into a Store
// that records which tensors were stored F16 or BF16 (Store.DType), so that
// linear layers built from it keep those weights packed in their own type
// (exact, half the memory of float32), and returns the non-tensor leaves.
func OpenPyTorch(path string) (*Store, map[string]any, error) {
	tensors, dtypes, extra, err := loadPyTorch(path)
	if err != nil {
		return nil, nil, err
	}
	s := NewStore(path, tensors)
	if len(dtypes) > 0 {
		s.dtypes = dtypes
	}
	return s, extra, nil
}

func loadPyTorch(path string) (tensors map[string]*tensor.Tensor, dtypes map[string]string, extra map[string]any, err error) {
	// gopickle is third-party parsing code: a malformed file must come back
	// as an error, not a crash of the caller.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: pickle decoder failed: %v\n%s", path, ErrCorruptCheckpoint, r, debug.Stack())
		}
	}()
	if err := prescanZip(path); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w: %v", path, ErrCorruptCheckpoint, err)
	}
	obj, err := pytorch.LoadWithUnpickler(path, restrictedUnpickler)
	if err != nil {
		if errors.Is(err, ErrForbiddenPickle) {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, nil, nil, fmt.Errorf("%s: %w: %v", path, ErrCorruptCheckpoint, err)
	}
	tensors = map[string]*tensor.Tensor{}
	dtypes = map[string]string{}
	extra = map[string]any{}
	if err := flattenPickle(obj, "", 0, tensors, dtypes, extra); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return tensors, dtypes, extra, nil
}

func flattenPickle(obj any, prefix string, depth int, out map[string]*tensor.Tensor, dtypes map[string]string, extra map[string]any) error {
	if depth > maxPickleDepth {
		return fmt.Errorf("%w: containers nested deeper than %d", ErrCorruptCheckpoint, maxPickleDepth)
	}
	join := func(k any) string {
		s := fmt.Sprint(k)
		if prefix == "" {
			return s
		}
		return prefix + "." + s
	}
	switch v := obj.(type) {
	case *types.OrderedDict:
		for e := v.List.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*types.OrderedDictEntry)
			if err := flattenPickle(ent.Value, join(ent.Key), depth+1, out, dtypes, extra); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, ent := range *v {
			if err := flattenPickle(ent.Value, join(ent.Key), depth+1, out, dtypes, extra); err != nil {
				return err
			}
		}
	case *pytorch.Tensor:
		t, err := pickleTensor(v)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", prefix, err)
		}
		out[prefix] = t
		switch v.Source.(type) {
		case *pytorch.HalfStorage:
			dtypes[prefix] = "F16"
		case *pytorch.BFloat16Storage:
			dtypes[prefix] = "BF16"
		}
	default:
		extra[prefix] = v
	}
	return nil
}

// pickleTensor converts a gopickle tensor (storage + offset + size + stride)
// into a contiguous float32 tensor.
func pickleTensor(pt *pytorch.Tensor) (*tensor.Tensor, error) {
	var get func(i int) float32
	var storageLen int
	switch s := pt.Source.(type) {
	case *pytorch.FloatStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return s.Data[i] }
	case *pytorch.HalfStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return s.Data[i] }
	case *pytorch.BFloat16Storage:
		storageLen, get = len(s.Data), func(i int) float32 { return s.Data[i] }
	case *pytorch.DoubleStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return float32(s.Data[i]) }
	case *pytorch.LongStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return float32(s.Data[i]) }
	case *pytorch.IntStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return float32(s.Data[i]) }
	case *pytorch.ShortStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return float32(s.Data[i]) }
	case *pytorch.CharStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return float32(s.Data[i]) }
	case *pytorch.ByteStorage:
		storageLen, get = len(s.Data), func(i int) float32 { return float32(s.Data[i]) }
	case *pytorch.BoolStorage:
		storageLen, get = len(s.Data), func(i int) float32 {
			if s.Data[i] {
				return 1
			}
			return 0
		}
	default:
		return nil, fmt.Errorf("%w: storage %T", ErrUnsupportedDType, pt.Source)
	}
	if len(pt.Size) != len(pt.Stride) {
		return nil, fmt.Errorf("%w: size %v with stride %v", ErrCorruptCheckpoint, pt.Size, pt.Stride)
	}
	n, ok := checkedNumel(pt.Size)
	if !ok {
		return nil, fmt.Errorf("%w: shape %v", ErrCorruptCheckpoint, pt.Size)
	}
	// Bounds: the furthest element must lie inside the storage.
	last := pt.StorageOffset
	for i, d := range pt.Size {
		if pt.Stride[i] < 0 {
			return nil, fmt.Errorf("%w: negative stride %v", ErrCorruptCheckpoint, pt.Stride)
		}
		if d > 0 {
			if pt.Stride[i] > 0 && d-1 > (math.MaxInt32*64)/pt.Stride[i] {
				return nil, fmt.Errorf("%w: stride overflow %v", ErrCorruptCheckpoint, pt.Stride)
			}
			last += (d - 1) * pt.Stride[i]
		}
	}
	// A checkpoint's tensor never has more elements than its storage (only
	// expanded views with zero strides do, and those are not saved); refusing
	// them keeps a few hostile bytes from asking for gigabytes.
	if n > storageLen {
		return nil, fmt.Errorf("%w: tensor of shape %v has more elements than its storage of %d", ErrCorruptCheckpoint, pt.Size, storageLen)
	}
	if pt.StorageOffset < 0 || (n > 0 && last >= storageLen) {
		return nil, fmt.Errorf("%w: tensor of shape %v (offset %d, stride %v) exceeds its storage of %d elements", ErrCorruptCheckpoint, pt.Size, pt.StorageOffset, pt.Stride, storageLen)
	}
	data := make([]float32, n)
	idx := make([]int, len(pt.Size))
	for f := 0; f < n; f++ {
		off := pt.StorageOffset
		for d := range idx {
			off += idx[d] * pt.Stride[d]
		}
		data[f] = get(off)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < pt.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return tensor.FromData(data, pt.Size...)
}

// prescanZip checks the data.pkl of a zip checkpoint with ScanPickle before
// gopickle sees it, so corrupt length fields or unknown opcodes are refused
// up front. Non-zip (legacy) files are left to the decoder.
func prescanZip(path string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil // not a zip: legacy format
	}
	defer zr.Close()
	for _, f := range zr.File {
		if pathpkg.Base(f.Name) != "data.pkl" {
			continue
		}
		if f.UncompressedSize64 > MaxDataPkl {
			return fmt.Errorf("data.pkl of %d bytes (at most %d)", f.UncompressedSize64, MaxDataPkl)
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(rc, MaxDataPkl+1))
		rc.Close()
		if err != nil {
			return err
		}
		if len(b) > MaxDataPkl {
			return fmt.Errorf("data.pkl larger than %d bytes", MaxDataPkl)
		}
		return ScanPickle(b)
	}
	return nil
}
