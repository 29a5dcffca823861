package checkpoint

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/x448/float16"
)

// A minimal pickle writer (protocol 2 opcodes) for building PyTorch
// checkpoints in tests: state dicts, TorchScript module trees and legacy
// streams, with exactly the structure torch.save and torch.jit.save write.
type pickleWriter struct{ bytes.Buffer }

func newPickle() *pickleWriter {
	p := &pickleWriter{}
	p.Write([]byte{0x80, 2}) // PROTO 2
	return p
}

func (p *pickleWriter) op(b ...byte) *pickleWriter { p.Write(b); return p }

func (p *pickleWriter) str(s string) *pickleWriter {
	p.WriteByte('X') // BINUNICODE
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *pickleWriter) int(n int) *pickleWriter {
	if n != int(int32(n)) {
		p.Write([]byte{0x8a, 8}) // LONG1 of 8 bytes
		binary.Write(p, binary.LittleEndian, int64(n))
		return p
	}
	p.WriteByte('J') // BININT
	binary.Write(p, binary.LittleEndian, int32(n))
	return p
}

func (p *pickleWriter) global(module, name string) *pickleWriter {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}

func (p *pickleWriter) ints(v ...int) *pickleWriter {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

func (p *pickleWriter) stop() []byte { p.op('.'); return p.Bytes() }

// storageSpec is one storage of a test checkpoint.
type storageSpec struct {
	class string // FloatStorage, HalfStorage, …
	key   string
	numel int
}

// tensorSpec is a strided view of a storage.
type tensorSpec struct {
	storage       storageSpec
	offset        int
	size, stride  []int
	legacy        bool // the persistent id carries a sixth element (view metadata None)
	wrapParameter bool // wrapped in torch._utils._rebuild_parameter
}

// tensor writes torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, backward_hooks) with the storage as a persistent
// id, as torch.save does.
func (p *pickleWriter) tensor(t tensorSpec) *pickleWriter {
	if t.wrapParameter {
		p.global("torch._utils", "_rebuild_parameter").op('(')
	}
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", t.storage.class).str(t.storage.key).str("cpu").int(t.storage.numel)
	if t.legacy {
		p.op('N')
	}
	p.op('t', 'Q') // TUPLE, BINPERSID
	p.int(t.offset).ints(t.size...).ints(t.stride...)
	p.op(0x89) // requires_grad False
	p.global("collections", "OrderedDict").op(')', 'R')
	p.op('t', 'R')
	if t.wrapParameter {
		p.op(0x89) // requires_grad
		p.global("collections", "OrderedDict").op(')', 'R')
		p.op('t', 'R')
	}
	return p
}

// f32Bytes and f16Bytes encode values little-endian.
func f32Bytes(v []float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func f16Bytes(v []float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, float16.Fromfloat32(x).Bits())
	}
	return b
}

// The storages of the test checkpoints: 12 float32 values (0.5, 1.5, …)
// and 6 float16 values (exact in F16).
var (
	storageF32 = storageSpec{"FloatStorage", "0", 12}
	storageF16 = storageSpec{"HalfStorage", "1", 6}
	valuesF32  = func() []float32 {
		v := make([]float32, 12)
		for i := range v {
			v[i] = float32(i) + 0.5
		}
		return v
	}()
	valuesF16 = []float32{-2, -0.5, 0.25, 1, 3.5, 1024}
)

// testTensors are the views a state dict of the tests holds and what each
// must read as (row-major).
var testTensors = []struct {
	name string
	spec tensorSpec
	want []float32
}{
	{"a.weight", tensorSpec{storage: storageF32, size: []int{3, 4}, stride: []int{4, 1}, wrapParameter: true}, valuesF32},
	// The transpose of a.weight, sharing its storage.
	{"a.weight_t", tensorSpec{storage: storageF32, size: []int{4, 3}, stride: []int{1, 4}},
		[]float32{0.5, 4.5, 8.5, 1.5, 5.5, 9.5, 2.5, 6.5, 10.5, 3.5, 7.5, 11.5}},
	// Row 2 of a.weight: an offset view.
	{"a.row", tensorSpec{storage: storageF32, offset: 8, size: []int{4}, stride: []int{1}}, valuesF32[8:]},
	{"h.weight", tensorSpec{storage: storageF16, size: []int{2, 3}, stride: []int{3, 1}}, valuesF16},
	// Column 1 of h.weight: a strided 16-bit view.
	{"h.col", tensorSpec{storage: storageF16, offset: 1, size: []int{2}, stride: []int{3}}, []float32{-0.5, 3.5}},
}

// stateDictPickle returns the data.pkl of a state dict holding testTensors
// (legacy: with legacy persistent ids).
func stateDictPickle(legacy ...bool) []byte {
	p := newPickle().op('}', '(')
	for _, tt := range testTensors {
		spec := tt.spec
		spec.legacy = len(legacy) > 0 && legacy[0]
		p.str(tt.name).tensor(spec)
	}
	p.str("step").int(7)
	return p.op('u').stop()
}

// torchScriptRecords returns the records of a small TorchScript archive
// (under "tiny/"): a __torch__ module with a Linear submodule (weight and
// bias), a 16-bit buffer, an int attribute and a dict attribute passed
// through torch.jit._pickle.restore_type_tag.
func torchScriptRecords() map[string][]byte {
	p := newPickle()
	p.global("__torch__", "Model").op(')', 0x81) // NEWOBJ
	p.op('}', '(')
	p.str("training").op(0x88)
	p.str("num_heads").int(4)
	p.str("proj")
	p.global("__torch__.torch.nn.modules.linear", "Linear").op(')', 0x81)
	p.op('}', '(')
	p.str("weight").tensor(tensorSpec{storage: storageF32, size: []int{2, 4}, stride: []int{4, 1}})
	p.str("bias").tensor(tensorSpec{storage: storageF32, offset: 8, size: []int{2}, stride: []int{1}})
	p.op('u', 'b') // SETITEMS, BUILD
	p.str("scale").tensor(tensorSpec{storage: storageF16, size: []int{6}, stride: []int{1}})
	p.str("names")
	p.global("torch.jit._pickle", "restore_type_tag").op('(').op('}', '(').str("x").int(1).op('u').str("Dict[str, int]").op('t', 'R')
	p.op('u', 'b')
	return map[string][]byte{
		"tiny/data.pkl":      p.stop(),
		"tiny/constants.pkl": newPickle().op(')').stop(),
		"tiny/version":       []byte("3\n"),
		"tiny/data/0":        f32Bytes(valuesF32),
		"tiny/data/1":        f16Bytes(valuesF16),
	}
}

// legacyFile returns a legacy torch.save stream of the state dict of
// stateDictPickle.
func legacyFile(tb testing.TB) []byte {
	var b bytes.Buffer
	// Magic number 0x1950a86a20f9469cfc6c as LONG1, protocol 1001, sys info.
	magic := []byte{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}
	b.Write(newPickle().op(0x8a, byte(len(magic))).op(magic...).stop())
	b.Write(newPickle().op('M', 0xe9, 0x03).stop())
	b.Write(newPickle().op('}', '(').str("protocol_version").int(1001).str("little_endian").op(0x88).op('u').stop())
	b.Write(stateDictPickle(true))
	b.Write(newPickle().op(']', '(').str(storageF32.key).str(storageF16.key).op('e').stop())
	binary.Write(&b, binary.LittleEndian, uint64(storageF32.numel))
	b.Write(f32Bytes(valuesF32))
	binary.Write(&b, binary.LittleEndian, uint64(storageF16.numel))
	b.Write(f16Bytes(valuesF16))
	return b.Bytes()
}

// writeFile writes b to a fresh temporary file.
func writeFile(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}
