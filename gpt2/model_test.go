package gpt2

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

func smallGPT2(cross bool) Config {
	c := DefaultConfig()
	c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead, c.NInner = 23, 16, 8, 2, 2, 12
	c.AddCrossAttention = cross
	c.EOSTokenID, c.BOSTokenID = 3, 3
	return c
}

// randomGPT2 returns seeded weights in GPT2LMHeadModel layout (prefix
// "transformer." when prefixed), with an untied lm_head when untied.
func randomGPT2(c Config, seed uint64, prefixed, untied bool) *checkpoint.Store {
	r := rand.New(rand.NewPCG(seed, 5))
	m := map[string]*tensor.Tensor{}
	p := ""
	if prefixed {
		p = "transformer."
	}
	put := func(name string, scale, offset float64, shape ...int) {
		m[name] = expected.Uniform(r, scale, offset, shape...)
	}
	d := c.NEmbd
	put(p+"wte.weight", 1, 0, c.VocabSize, d)
	put(p+"wpe.weight", 0.5, 0, c.NPositions, d)
	put(p+"ln_f.weight", 0.3, 1, d)
	put(p+"ln_f.bias", 0.3, 0, d)
	for i := 0; i < c.NLayer; i++ {
		l := fmt.Sprintf("%sh.%d.", p, i)
		for _, n := range []string{"ln_1", "ln_2"} {
			put(l+n+".weight", 0.3, 1, d)
			put(l+n+".bias", 0.3, 0, d)
		}
		put(l+"attn.c_attn.weight", 0.6, 0, d, 3*d)
		put(l+"attn.c_attn.bias", 0.2, 0, 3*d)
		put(l+"attn.c_proj.weight", 0.6, 0, d, d)
		put(l+"attn.c_proj.bias", 0.2, 0, d)
		put(l+"mlp.c_fc.weight", 0.6, 0, d, c.NInner)
		put(l+"mlp.c_fc.bias", 0.2, 0, c.NInner)
		put(l+"mlp.c_proj.weight", 0.6, 0, c.NInner, d)
		put(l+"mlp.c_proj.bias", 0.2, 0, d)
		// Old checkpoints carry the causal-mask buffer; it must be ignored.
		put(l+"attn.bias", 0, 1, 1, 1, c.NPositions, c.NPositions)
		if c.AddCrossAttention {
			put(l+"ln_cross_attn.weight", 0.3, 1, d)
			put(l+"ln_cross_attn.bias", 0.3, 0, d)
			put(l+"crossattention.q_attn.weight", 0.6, 0, d, d)
			put(l+"crossattention.q_attn.bias", 0.2, 0, d)
			put(l+"crossattention.c_attn.weight", 0.6, 0, d, 2*d)
			put(l+"crossattention.c_attn.bias", 0.2, 0, 2*d)
			put(l+"crossattention.c_proj.weight", 0.6, 0, d, d)
			put(l+"crossattention.c_proj.bias", 0.2, 0, d)
		}
	}
	if untied {
		put("lm_head.weight", 1.5, 0, c.VocabSize, d)
	}
	return checkpoint.NewStore("synthetic", m)
}

// ---- float64 reference, written from modeling_gpt2.py ----

func vec(s *checkpoint.Store, name string) []float64 {
	t, ok := s.Get(name)
	if !ok {
		panic("missing " + name)
	}
	d := t.Contiguous().Data()
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

// conv1D is GPT-2's Conv1D: x @ W + b with W [in, out].
func conv1D(x [][]float64, w, b []float64, out int) [][]float64 {
	y := make([][]float64, len(x))
	for r, row := range x {
		y[r] = slices.Clone(b)
		for i, xv := range row {
			for o := 0; o < out; o++ {
				y[r][o] += xv * w[i*out+o]
			}
		}
	}
	return y
}

func cols(x [][]float64, lo, hi int) [][]float64 {
	y := make([][]float64, len(x))
	for i := range x {
		y[i] = x[i][lo:hi]
	}
	return y
}

func geluNew(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// refGPT2 returns the logits [T, V] of GPT2LMHeadModel for ids, attending to
// enc [Tenc, D] when non-nil.
func refGPT2(s *checkpoint.Store, c Config, p string, ids []int, enc [][]float64) [][]float64 {
	d := c.NEmbd
	wte, wpe := vec(s, p+"wte.weight"), vec(s, p+"wpe.weight")
	x := make([][]float64, len(ids))
	for t, id := range ids {
		x[t] = make([]float64, d)
		for j := range x[t] {
			x[t][j] = wte[id*d+j] + wpe[t*d+j]
		}
	}
	eps := c.LayerNormEpsilon
	for i := 0; i < c.NLayer; i++ {
		l := fmt.Sprintf("%sh.%d.", p, i)
		scale := 1.0
		if c.ScaleAttnWeights {
			scale = 1 / math.Sqrt(float64(d/c.NHead))
		}
		if c.ScaleAttnByInverseLayerIdx {
			scale /= float64(i + 1)
		}
		h := testdata.Mat(x).LayerNorm(vec(s, l+"ln_1.weight"), vec(s, l+"ln_1.bias"), eps)
		qkv := conv1D(h, vec(s, l+"attn.c_attn.weight"), vec(s, l+"attn.c_attn.bias"), 3*d)
		a := testdata.Mat(cols(qkv, 0, d)).Attention(cols(qkv, d, 2*d), cols(qkv, 2*d, 3*d), c.NHead, scale, true)
		x = testdata.Mat(x).Add(conv1D(a, vec(s, l+"attn.c_proj.weight"), vec(s, l+"attn.c_proj.bias"), d))
		if enc != nil {
			h = testdata.Mat(x).LayerNorm(vec(s, l+"ln_cross_attn.weight"), vec(s, l+"ln_cross_attn.bias"), eps)
			q := conv1D(h, vec(s, l+"crossattention.q_attn.weight"), vec(s, l+"crossattention.q_attn.bias"), d)
			kv := conv1D(enc, vec(s, l+"crossattention.c_attn.weight"), vec(s, l+"crossattention.c_attn.bias"), 2*d)
			a = testdata.Mat(q).Attention(cols(kv, 0, d), cols(kv, d, 2*d), c.NHead, scale, false)
			x = testdata.Mat(x).Add(conv1D(a, vec(s, l+"crossattention.c_proj.weight"), vec(s, l+"crossattention.c_proj.bias"), d))
		}
		h = testdata.Mat(x).LayerNorm(vec(s, l+"ln_2.weight"), vec(s, l+"ln_2.bias"), eps)
		h = conv1D(h, vec(s, l+"mlp.c_fc.weight"), vec(s, l+"mlp.c_fc.bias"), c.NInner)
		for r := range h {
			for j := range h[r] {
				h[r][j] = geluNew(h[r][j])
			}
		}
		x = testdata.Mat(x).Add(conv1D(h, vec(s, l+"mlp.c_proj.weight"), vec(s, l+"mlp.c_proj.bias"), d))
	}
	x = testdata.Mat(x).LayerNorm(vec(s, p+"ln_f.weight"), vec(s, p+"ln_f.bias"), eps)
	head := wte
	if _, ok := s.Get("lm_head.weight"); ok {
		head = vec(s, "lm_head.weight")
	}
	out := make([][]float64, len(x))
	for t := range x {
		out[t] = make([]float64, c.VocabSize)
		for v := range out[t] {
			for j := 0; j < d; j++ {
				out[t][v] += x[t][j] * head[v*d+j]
			}
		}
	}
	return out
}

func randomEnc(seed uint64, t, d int) (*tensor.Tensor, [][]float64) {
	r := rand.New(rand.NewPCG(seed, 9))
	e := tensor.New(1, t, d)
	ref := make([][]float64, t)
	for i := range ref {
		ref[i] = make([]float64, d)
		for j := range ref[i] {
			v := float32(r.NormFloat64())
			e.Set(v, 0, i, j)
			ref[i][j] = float64(v)
		}
	}
	return e, ref
}

func TestModelMatchesReference(t *testing.T) {
	ctx := context.Background()
	ids := []int{3, 7, 1, 19, 22, 0, 5, 11}
	for _, tc := range []struct {
		name                            string
		cross, prefixed, untied, invIdx bool
	}{
		{"lm_prefixed_tied", false, true, false, false},
		{"bare_untied_inverse_layer_scale", false, false, true, true},
		{"cross_attention", true, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := smallGPT2(tc.cross)
			c.ScaleAttnByInverseLayerIdx = tc.invIdx
			s := randomGPT2(c, 11, tc.prefixed, tc.untied)
			m, err := New(c, s.Root())
			if err != nil {
				t.Fatal(err)
			}
			p := ""
			if tc.prefixed {
				p = "transformer."
			}
			var enc *tensor.Tensor
			var encRef [][]float64
			if tc.cross {
				enc, encRef = randomEnc(4, 5, c.NEmbd)
			}
			want := refGPT2(s, c, p, ids, encRef)

			// One pass over all ids.
			st, err := m.NewState(1, enc)
			if err != nil {
				t.Fatal(err)
			}
			full, err := m.Logits(ctx, st, [][]int{ids})
			if err != nil {
				t.Fatal(err)
			}
			// Incrementally with the KV cache: 3 tokens, then one at a time.
			st2, _ := m.NewState(1, enc)
			inc := make([][]float32, 0, len(ids))
			l3, err := m.Logits(ctx, st2, [][]int{ids[:3]})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				inc = append(inc, l3.Index(0).Index(i).Data())
			}
			for _, id := range ids[3:] {
				l, err := m.NextLogits(ctx, st2, [][]int{{id}})
				if err != nil {
					t.Fatal(err)
				}
				inc = append(inc, l.Data())
			}
			var dFull, dInc float64
			for tt := range want {
				for v := range want[tt] {
					dFull = math.Max(dFull, math.Abs(float64(full.At(0, tt, v))-want[tt][v]))
					dInc = math.Max(dInc, math.Abs(float64(inc[tt][v])-want[tt][v]))
				}
			}
			t.Logf("max|Δ| vs float64 reference: full %.3g, cached %.3g", dFull, dInc)
			if dFull > 1e-4 || dInc > 1e-4 {
				t.Errorf("max|Δ| full %g, cached %g > 1e-4", dFull, dInc)
			}
			if st2.Len() != len(ids) {
				t.Errorf("state length %d, want %d", st2.Len(), len(ids))
			}
		})
	}
}

func TestModelInputErrors(t *testing.T) {
	ctx := context.Background()
	c := smallGPT2(true)
	m, err := New(c, randomGPT2(c, 1, true, false).Root())
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := randomEnc(1, 4, c.NEmbd)
	st, _ := m.NewState(1, enc)
	for name, ids := range map[string][][]int{
		"out of vocabulary": {{1, c.VocabSize}},
		"negative id":       {{-1}},
		"empty":             {{}},
		"batch mismatch":    {{1}, {2}},
		"too long":          {make([]int, c.NPositions+1)},
	} {
		if _, err := m.Logits(ctx, st, ids); !errors.Is(err, ErrInput) {
			t.Errorf("%s: err = %v, want ErrInput", name, err)
		}
	}
	if _, err := m.NewState(1, tensor.New(1, 4, c.NEmbd+1)); !errors.Is(err, ErrInput) {
		t.Errorf("wrong encoder width: err = %v", err)
	}
	if _, err := m.Generate(ctx, enc, []int{3}, SearchOptions{MaxLength: c.NPositions + 1}); !errors.Is(err, ErrInput) {
		t.Errorf("max length beyond positions: err = %v", err)
	}
	if _, err := m.Generate(ctx, enc, nil, SearchOptions{MaxLength: 5}); !errors.Is(err, ErrInput) {
		t.Errorf("empty prompt: err = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Generate(cctx, enc, []int{3}, SearchOptions{MaxLength: 5}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}

	lm := smallGPT2(false)
	plain, err := New(lm, randomGPT2(lm, 1, false, false).Root())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.NewState(1, enc); !errors.Is(err, ErrInput) {
		t.Errorf("encoder output for a model without cross-attention: err = %v", err)
	}

	s := randomGPT2(c, 1, true, false)
	s.Delete("transformer.h.1.crossattention.q_attn.weight")
	s.Delete("transformer.ln_f.bias")
	_, err = New(c, s.Root())
	if !errors.Is(err, checkpoint.ErrMissingWeights) || !strings.Contains(err.Error(), "h.1.crossattention.q_attn.weight") || !strings.Contains(err.Error(), "ln_f.bias") {
		t.Errorf("missing weights: err = %v", err)
	}
}

// writeSafetensors stores F32 tensors in the safetensors layout.
func writeSafetensors(t *testing.T, path string, s *checkpoint.Store) {
	t.Helper()
	names := s.Names()
	hdr := map[string]any{}
	off := 0
	for _, n := range names {
		x, _ := s.Get(n)
		hdr[n] = map[string]any{"dtype": "F32", "shape": x.Shape(), "data_offsets": []int{off, off + 4*x.Len()}}
		off += 4 * x.Len()
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	buf = append(buf, hb...)
	for _, n := range names {
		x, _ := s.Get(n)
		for _, v := range x.Contiguous().Data() {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadGPT2Directory(t *testing.T) {
	c := smallGPT2(false)
	s := randomGPT2(c, 21, true, false)
	dir := t.TempDir()
	writeSafetensors(t, filepath.Join(dir, "model.safetensors"), s)
	cfg := fmt.Sprintf(`{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": %d, "n_positions": %d,
		"n_embd": %d, "n_layer": %d, "n_head": %d, "n_inner": %d, "eos_token_id": 3, "bos_token_id": 3}`,
		c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead, c.NInner)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lc, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if pc, _ := ParseConfig("config.json", []byte(cfg)); !reflect.DeepEqual(lc, pc) || lc.NLayer != c.NLayer || lc.NInner != c.NInner {
		t.Errorf("LoadConfig = %+v, ParseConfig = %+v", lc, pc)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{3, 9, 14, 2}
	want := refGPT2(s, c, "transformer.", ids, nil)
	st, _ := m.NewState(1, nil)
	got, err := m.Logits(context.Background(), st, [][]int{ids})
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	for i := range want {
		for v := range want[i] {
			d = math.Max(d, math.Abs(float64(got.At(0, i, v))-want[i][v]))
		}
	}
	if d > 1e-4 {
		t.Errorf("loaded model max|Δ| = %g", d)
	}
	out, err := m.Generate(context.Background(), nil, ids, SearchOptions{MaxLength: 10, NumBeams: 2, LengthPenalty: 1, EOS: []int{3}})
	if err != nil || len(out) < len(ids)+1 || !slices.Equal(out[:len(ids)], ids) {
		t.Errorf("Generate without encoder: %v, %v", out, err)
	}
}
