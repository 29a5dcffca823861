package checkpoint

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/goformer/goformer/tensor"
)

// Store is a name-keyed set of weight tensors, as read from a checkpoint.
// Model constructors read it through Weights views, which record every
// missing or mis-shaped tensor so that one error lists them all.
type Store struct {
	tensors map[string]*tensor.Tensor
	// Source names where the tensors came from, for error messages.
	Source string
	// closers release memory mappings when the store is no longer needed.
	closers []func() error
	// mapped are the file mappings behind the tensors.
	mapped [][]byte
	// dtypes records the stored element type of 16-bit tensors that have
	// been widened ("F16", "BF16"); absent names were float32 (or unknown).
	dtypes map[string]string
	// half holds 16-bit tensors not yet widened (see Half): a layer packs
	// them as they are; any other reader gets them widened (once).
	half map[string]*Half

	// WeightType, when not F32, makes layers built from this store
	// (nn.NewLinear, see Weights.PackType) keep their packed weights in
	// that 16-bit type: half the memory and the bandwidth of decoding, at the cost of rounding float32 weights (weights
	// stored as F16 or BF16 in the checkpoint are kept in their own type
	// regardless, which is exact). WeightQ8 quantizes the weights of every
	// linear layer to int8, whatever their checkpoint type (see
	// tensor.WeightQ8); WeightBF16Dot makes every linear layer compute in
	// bfloat16 (see tensor.WeightBF16Dot). Set it before building the model.
	WeightType tensor.WeightType

	// Device, when not nil, is where the model built from this store
	// keeps its weights and computes (see Weights.Upload and
	// nn.WithDevice): weights are uploaded and packed there by Prepare.
	// Set it before building the model.
	Device *tensor.Device

	prepMu  sync.Mutex
	prepare []func() error
	onClose []func()

	mu       sync.Mutex
	used     map[string]bool
	problems []string
}

// NewStore wraps a map of tensors (not copied).
func NewStore(source string, tensors map[string]*tensor.Tensor) *Store {
	return &Store{tensors: tensors, Source: source, used: map[string]bool{}}
}

// DType returns the element type a tensor had in its checkpoint ("F16",
// "BF16", …) when it is held in, or was converted from, a 16-bit type, or
// "F32".
func (s *Store) DType(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.half[name]; ok {
		return h.DType()
	}
	if dt, ok := s.dtypes[name]; ok {
		return dt
	}
	return "F32"
}

// Names returns all tensor names, sorted.
func (s *Store) Names() []string {
	s.mu.Lock()
	out := make([]string, 0, len(s.tensors)+len(s.half))
	for k := range s.tensors {
		out = append(out, k)
	}
	for k := range s.half {
		out = append(out, k)
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}

// Len returns the number of tensors.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tensors) + len(s.half)
}

// Get returns a tensor by full name, as float32, without recording its use.
func (s *Store) Get(name string) (*tensor.Tensor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupLocked(name)
}

// lookupLocked returns a tensor as float32, widening a 16-bit one (once: the
// widened copy replaces it). s.mu must be held.
func (s *Store) lookupLocked(name string) (*tensor.Tensor, bool) {
	if t, ok := s.tensors[name]; ok {
		return t, true
	}
	h, ok := s.half[name]
	if !ok {
		return nil, false
	}
	t := h.Widen()
	ReleaseMappedHalves(h.Data)
	delete(s.half, name)
	s.tensors[name] = t
	if s.dtypes == nil {
		s.dtypes = map[string]string{}
	}
	s.dtypes[name] = h.DType()
	return t, true
}

// Set adds or replaces a tensor (for name mapping and derived weights).
func (s *Store) Set(name string, t *tensor.Tensor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.half, name)
	delete(s.dtypes, name)
	s.tensors[name] = t
}

// Delete removes a tensor.
func (s *Store) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tensors, name)
	delete(s.half, name)
}

// Rename applies f to every name; f returning "" drops the tensor. It is how
// loaders map foreign layouts (OpenAI checkpoints) onto Hub names.
func (s *Store) Rename(f func(string) string) {
	next := make(map[string]*tensor.Tensor, len(s.tensors))
	s.mu.Lock()
	defer s.mu.Unlock()
	var dts map[string]string
	var half map[string]*Half
	for k, v := range s.half {
		if nk := f(k); nk != "" {
			if half == nil {
				half = map[string]*Half{}
			}
			half[nk] = v
		}
	}
	for k, v := range s.tensors {
		if nk := f(k); nk != "" {
			next[nk] = v
			if dt, ok := s.dtypes[k]; ok {
				if dts == nil {
					dts = map[string]string{}
				}
				dts[nk] = dt
			}
		}
	}
	s.tensors = next
	s.dtypes = dts
	s.half = half
}

// Root returns a Weights view of the whole store.
func (s *Store) Root() Weights { return Weights{store: s} }

// Unused returns the names no Weights view has read, sorted.
func (s *Store) Unused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.tensors {
		if !s.used[k] {
			out = append(out, k)
		}
	}
	for k := range s.half {
		if !s.used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Err returns nil when every tensor asked for was present with the expected
// shape, else one error (wrapping ErrMissingWeights) listing every problem.
// Unexpected tensors whose name matches none of the ignore prefixes or
// suffixes are listed too when strict is true.
func (s *Store) Err(strict bool, ignore ...string) error {
	s.mu.Lock()
	problems := append([]string(nil), s.problems...)
	s.mu.Unlock()
	var unexpected []string
	if strict {
	outer:
		for _, name := range s.Unused() {
			for _, ig := range ignore {
				if strings.HasPrefix(name, ig) || strings.HasSuffix(name, ig) {
					continue outer
				}
			}
			unexpected = append(unexpected, name)
		}
	}
	if len(problems) == 0 && len(unexpected) == 0 {
		return nil
	}
	var b strings.Builder
	if len(problems) > 0 {
		fmt.Fprintf(&b, "%d missing or mis-shaped: %s", len(problems), strings.Join(problems, "; "))
	}
	if len(unexpected) > 0 {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d unexpected: %s", len(unexpected), strings.Join(unexpected, ", "))
	}
	return fmt.Errorf("%s: %w: %s", s.Source, ErrMissingWeights, b.String())
}

// OnPrepare registers work that makes a layer's weights resident (packing,
// upload to the device), run by the next Prepare. Layers register it when
// they are built; model packages call Prepare at the end of Load, so that
// the first request runs as fast as the tenth.
func (s *Store) OnPrepare(f func() error) {
	s.prepMu.Lock()
	s.prepare = append(s.prepare, f)
	s.prepMu.Unlock()
}

// Prepare runs the work registered with OnPrepare since the last Prepare,
// in order, and returns the first error.
func (s *Store) Prepare() error {
	s.prepMu.Lock()
	todo := s.prepare
	s.prepare = nil
	s.prepMu.Unlock()
	for _, f := range todo {
		if err := f(); err != nil {
			return err
		}
	}
	// Packing read the weights; the pages loading touched are let go now,
	// and what the model reads from the files at run time (tensors it uses
	// as they are) faults back in as it is used.
	for _, b := range s.mapped {
		releaseMapping(b)
	}
	return nil
}

// OnClose registers f to run when the store is closed, before its
// mappings are released: how layers free the packed weights and device
// memory they own (so that Close, not the garbage collector, frees them).
func (s *Store) OnClose(f func()) {
	s.prepMu.Lock()
	s.onClose = append(s.onClose, f)
	s.prepMu.Unlock()
}

// Close frees what layers registered with OnClose (packed weights, device
// memory), then releases the memory mappings behind the store's tensors.
// Tensors read zero-copy must not be used afterwards. Closing twice does
// nothing.
func (s *Store) Close() error {
	s.prepMu.Lock()
	fs := s.onClose
	s.onClose, s.prepare = nil, nil
	s.prepMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	var first error
	for _, c := range s.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}

func (s *Store) problem(format string, args ...any) {
	s.mu.Lock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// Weights is a view of a Store under a name prefix, the way model code reads
// its parameters: w.Sub("encoder").Sub("layers.3").Tensor("fc1.weight", …).
type Weights struct {
	store  *Store
	prefix string
}

// Sub returns the view under prefix+name+"." (w itself for an empty name).
func (w Weights) Sub(name string) Weights {
	if name == "" {
		return w
	}
	return Weights{store: w.store, prefix: w.prefix + name + "."}
}

// Subf is Sub with a formatted name: w.Subf("layers.%d", i).
func (w Weights) Subf(format string, args ...any) Weights {
	return w.Sub(fmt.Sprintf(format, args...))
}

// Prefix returns the view's name prefix.
func (w Weights) Prefix() string { return w.prefix }

// Store returns the underlying store.
func (w Weights) Store() *Store { return w.store }

// DType returns the checkpoint element type of the named tensor (see
// Store.DType).
func (w Weights) DType(name string) string { return w.store.DType(w.prefix + name) }

// Has reports whether the named tensor exists.
func (w Weights) Has(name string) bool {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	_, ok := w.store.tensors[w.prefix+name]
	if !ok {
		_, ok = w.store.half[w.prefix+name]
	}
	return ok
}

// Tensor returns the named tensor, checking its shape when shape is given.
// A missing or mis-shaped tensor is recorded (see Store.Err) and a zero
// tensor of the wanted shape is returned so that construction can go on and
// report every problem at once.
func (w Weights) Tensor(name string, shape ...int) *tensor.Tensor {
	full := w.prefix + name
	w.store.mu.Lock()
	t, ok := w.store.lookupLocked(full)
	w.store.used[full] = true
	w.store.mu.Unlock()
	if !ok {
		w.store.problem("missing %s %v", full, shape)
		return zeroTensor(shape)
	}
	if len(shape) > 0 && !slices.Equal(t.Shape(), shape) {
		// A tensor with the same number of elements and trailing singleton
		// dimensions is reshaped (e.g. [D] stored as [1, 1, D]).
		if t.Len() == prod(shape) && squeezeEq(t.Shape(), shape) {
			return t.MustReshape(shape...)
		}
		w.store.problem("%s has shape %v, want %v", full, t.Shape(), shape)
		return zeroTensor(shape)
	}
	return t
}

// Device returns the device the model built from these weights computes on
// (nil: the host).
func (w Weights) Device() *tensor.Device { return w.store.Device }

// Upload is Tensor (same checks) brought to the store's device: the tensor
// itself on the host, else a device copy freed when the store is closed.
// Forward passes read weights this way; construction code that computes on
// weights (concatenation, normalisation) reads them with Tensor and uploads
// the result with UploadTensor.
func (w Weights) Upload(name string, shape ...int) *tensor.Tensor {
	return w.UploadTensor(w.Tensor(name, shape...))
}

// UploadTensor brings a host tensor built from the weights to the store's
// device (see Upload); nil stays nil.
func (w Weights) UploadTensor(t *tensor.Tensor) *tensor.Tensor {
	d := w.store.Device
	if t == nil || d == nil || t.Device() == d {
		return t
	}
	u, err := d.Upload(t)
	if err != nil {
		w.store.problem("uploading to %s: %v", d.Name(), err)
		return t
	}
	w.store.OnClose(func() { tensor.Release(u) })
	return u
}

// Optional returns the named tensor or nil when it is absent. A present
// tensor of the wrong shape is recorded as a problem.
func (w Weights) Optional(name string, shape ...int) *tensor.Tensor {
	if !w.Has(name) {
		return nil
	}
	return w.Tensor(name, shape...)
}

// Half returns the named tensor in its 16-bit checkpoint form, recording
// its use, when it is held so (not yet widened) and has exactly the given
// shape; otherwise false (read it with Tensor, which records any problem).
func (w Weights) Half(name string, shape ...int) (*Half, bool) {
	full := w.prefix + name
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	h, ok := w.store.half[full]
	if !ok || !slices.Equal(h.Shape, shape) {
		return nil, false
	}
	w.store.used[full] = true
	return h, true
}

// Err is shorthand for w.Store().Err(false).
func (w Weights) Err() error { return w.store.Err(false) }

// CheckStore returns an error naming pkg and wrapping ErrMissingWeights
// when w is the zero Weights, a view of no store, which every model's New
// refuses; nil otherwise.
func (w Weights) CheckStore(pkg string) error {
	if w.store == nil {
		return fmt.Errorf("%s: %w: no weight store", pkg, ErrMissingWeights)
	}
	return nil
}

// PackType is the element type a layer built from tensor name keeps its
// packed weight in: WeightQ8 or WeightBF16Dot when that is the store's
// WeightType (they apply to every checkpoint type), else the checkpoint's
// type when that is F16 or BF16 (exact), else the store's WeightType. Model code that builds a linear layer by
// hand (a projection tied to an embedding) sets its type from it.
func (w Weights) PackType(name string) tensor.WeightType {
	if t := w.store.WeightType; t == tensor.WeightQ8 || t == tensor.WeightBF16Dot {
		// int8 quantization and bfloat16 compute apply to every
		// checkpoint type.
		return t
	}
	switch w.DType(name) {
	case "F16":
		return tensor.WeightF16
	case "BF16":
		return tensor.WeightBF16
	}
	return w.store.WeightType
}

func zeroTensor(shape []int) *tensor.Tensor {
	for _, d := range shape {
		if d < 0 {
			return tensor.New(0)
		}
	}
	if len(shape) == 0 {
		return tensor.New(0)
	}
	return tensor.New(shape...)
}

// squeezeEq reports whether a and b are equal once size-1 dimensions are
// removed.
func squeezeEq(a, b []int) bool {
	sq := func(s []int) []int {
		var o []int
		for _, d := range s {
			if d != 1 {
				o = append(o, d)
			}
		}
		return o
	}
	return slices.Equal(sq(a), sq(b))
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
