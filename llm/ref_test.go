package llm

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
	"github.com/x448/float16"
)

// This file holds the test models and a float64 reference written from
// transformers' modeling_opt (v4.30) and modeling_llama (v4.40) forward
// passes, sharing no code with the package.

// weights is a checkpoint held as float32 values by name, with shapes.
type weights struct {
	vals   map[string][]float32
	shapes map[string][]int
}

func (w *weights) add(r *rand.Rand, name string, scale float64, shape ...int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((r.Float64()*2 - 1) * scale)
	}
	w.vals[name], w.shapes[name] = v, shape
}

// fill sets a vector to 1 + noise (norm weights).
func (w *weights) ones(r *rand.Rand, name string, d int) {
	w.add(r, name, 0.2, d)
	for i := range w.vals[name] {
		w.vals[name][i] += 1
	}
}

// round rounds every value to dtype ("F16", "BF16") as a checkpoint in
// that type would hold it.
func (w *weights) round(dtype string) {
	for _, v := range w.vals {
		for i, x := range v {
			v[i] = roundTo(dtype, x)
		}
	}
}

func roundTo(dtype string, x float32) float32 {
	switch dtype {
	case "F16":
		return float16.Fromfloat32(x).Float32()
	case "BF16":
		b := math.Float32bits(x)
		b += 0x7fff + (b>>16)&1
		return math.Float32frombits(b &^ 0xffff)
	}
	return x
}

func (w *weights) store() *checkpoint.Store {
	m := map[string]*tensor.Tensor{}
	for n, v := range w.vals {
		m[n] = tensor.MustFromData(append([]float32(nil), v...), w.shapes[n]...)
	}
	return checkpoint.NewStore("random", m)
}

// write saves the weights as a safetensors file of dtype F32, F16 or BF16.
func (w *weights) write(t *testing.T, path, dtype string) {
	t.Helper()
	names := make([]string, 0, len(w.vals))
	for n := range w.vals {
		names = append(names, n)
	}
	sort.Strings(names)
	es := 4
	if dtype != "F32" {
		es = 2
	}
	hdr := map[string]any{}
	off := 0
	for _, n := range names {
		sz := es * len(w.vals[n])
		hdr[n] = map[string]any{"dtype": dtype, "shape": w.shapes[n], "data_offsets": []int{off, off + sz}}
		off += sz
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	buf = append(buf, hb...)
	for _, n := range names {
		for _, v := range w.vals[n] {
			switch dtype {
			case "F32":
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			case "F16":
				buf = binary.LittleEndian.AppendUint16(buf, float16.Fromfloat32(v).Bits())
			case "BF16":
				buf = binary.LittleEndian.AppendUint16(buf, uint16(math.Float32bits(roundTo("BF16", v))>>16))
			}
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// randomWeights draws a checkpoint for cfg with transformers' names under
// prefix (OPTForCausalLM / LlamaForCausalLM naming).
func randomWeights(cfg Config, seed uint64, prefix string) *weights {
	r := rand.New(rand.NewPCG(seed, 17))
	w := &weights{vals: map[string][]float32{}, shapes: map[string][]int{}}
	d, e, f, v := cfg.HiddenSize, cfg.EmbedDim(), cfg.IntermediateSize, cfg.VocabSize
	lin := func(name string, in, out int, bias bool) {
		s := 1.5 / math.Sqrt(float64(in))
		w.add(r, name+".weight", s, out, in)
		if bias {
			w.add(r, name+".bias", 0.1, out)
		}
	}
	switch cfg.ModelType {
	case OPT:
		p := prefix + "model.decoder."
		w.add(r, p+"embed_tokens.weight", 1, v, e)
		w.add(r, p+"embed_positions.weight", 0.5, cfg.MaxPositions+2, d)
		if e != d {
			lin(p+"project_in", e, d, false)
			lin(p+"project_out", d, e, false)
		}
		ln := func(name string) {
			if cfg.LayerNormElementwiseAffine {
				w.ones(r, name+".weight", d)
				w.add(r, name+".bias", 0.1, d)
			}
		}
		if cfg.DoLayerNormBefore && !cfg.RemoveFinalLayerNorm {
			ln(p + "final_layer_norm")
		}
		for i := 0; i < cfg.NumLayers; i++ {
			l := fmt.Sprintf("%slayers.%d.", p, i)
			for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
				lin(l+"self_attn."+n, d, d, cfg.EnableBias)
			}
			ln(l + "self_attn_layer_norm")
			ln(l + "final_layer_norm")
			lin(l+"fc1", d, f, cfg.EnableBias)
			lin(l+"fc2", f, d, cfg.EnableBias)
		}
		if !cfg.TieWordEmbeddings {
			lin(prefix+"lm_head", e, v, false)
		}
	case Llama:
		p := prefix + "model."
		qd, kvd := cfg.NumHeads*cfg.HeadDim, cfg.NumKVHeads*cfg.HeadDim
		w.add(r, p+"embed_tokens.weight", 1, v, d)
		for i := 0; i < cfg.NumLayers; i++ {
			l := fmt.Sprintf("%slayers.%d.", p, i)
			lin(l+"self_attn.q_proj", d, qd, cfg.AttentionBias)
			lin(l+"self_attn.k_proj", d, kvd, cfg.AttentionBias)
			lin(l+"self_attn.v_proj", d, kvd, cfg.AttentionBias)
			lin(l+"self_attn.o_proj", qd, d, cfg.AttentionBias)
			lin(l+"mlp.gate_proj", d, f, cfg.MLPBias)
			lin(l+"mlp.up_proj", d, f, cfg.MLPBias)
			lin(l+"mlp.down_proj", f, d, cfg.MLPBias)
			w.ones(r, l+"input_layernorm.weight", d)
			w.ones(r, l+"post_attention_layernorm.weight", d)
		}
		w.ones(r, p+"norm.weight", d)
		if !cfg.TieWordEmbeddings {
			lin(prefix+"lm_head", d, v, false)
		}
	}
	return w
}

// mat is a row-major matrix of float64 rows.
type mat = testdata.Mat

func (w *weights) get(name string) []float64 {
	v, ok := w.vals[name]
	if !ok {
		return nil
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func (w *weights) lin(x mat, name string, out int) mat {
	return x.Linear(w.get(name+".weight"), w.get(name+".bias"), out)
}

func rmsNormRef(x mat, wt []float64, eps float64) mat {
	y := make(mat, len(x))
	for i, row := range x {
		var ss float64
		for _, a := range row {
			ss += a * a
		}
		inv := 1 / math.Sqrt(ss/float64(len(row))+eps)
		y[i] = make([]float64, len(row))
		for j, a := range row {
			y[i][j] = wt[j] * a * inv
		}
	}
	return y
}

// attend is causal attention of one sequence: query head h reads
// key/value head h/(heads/kvHeads) (repeat_kv).
func attend(q, k, v mat, heads, kvHeads, dh int) mat {
	t := len(q)
	out := make(mat, t)
	g := heads / kvHeads
	for i := range out {
		out[i] = make([]float64, heads*dh)
	}
	for h := 0; h < heads; h++ {
		kh := h / g
		for i := 0; i < t; i++ {
			sc := make([]float64, i+1)
			m := math.Inf(-1)
			for j := 0; j <= i; j++ {
				var s float64
				for x := 0; x < dh; x++ {
					s += q[i][h*dh+x] * k[j][kh*dh+x]
				}
				sc[j] = s / math.Sqrt(float64(dh))
				m = math.Max(m, sc[j])
			}
			var z float64
			for j := range sc {
				sc[j] = math.Exp(sc[j] - m)
				z += sc[j]
			}
			for x := 0; x < dh; x++ {
				var s float64
				for j := range sc {
					s += sc[j] / z * v[j][kh*dh+x]
				}
				out[i][h*dh+x] = s
			}
		}
	}
	return out
}

// ropeRef applies rotate_half rotary embeddings at positions 0…T−1.
func ropeRef(x mat, heads, dh int, theta, factor float64) {
	for t, row := range x {
		p := float64(t)
		if factor > 1 {
			p /= factor
		}
		for h := 0; h < heads; h++ {
			for i := 0; i < dh/2; i++ {
				a := p * math.Pow(theta, -float64(2*i)/float64(dh))
				x1, x2 := row[h*dh+i], row[h*dh+i+dh/2]
				row[h*dh+i] = x1*math.Cos(a) - x2*math.Sin(a)
				row[h*dh+i+dh/2] = x2*math.Cos(a) + x1*math.Sin(a)
			}
		}
	}
}

// refLogits is the reference forward pass of one sequence of input
// embeddings (positions 0…T−1): logits [T][V].
func refLogits(cfg Config, w *weights, prefix string, embeds mat) mat {
	d, v := cfg.HiddenSize, cfg.VocabSize
	x := embeds
	var head string
	switch cfg.ModelType {
	case OPT:
		p := prefix + "model.decoder."
		if cfg.EmbedDim() != d {
			x = w.lin(x, p+"project_in", d)
		}
		pos := w.get(p + "embed_positions.weight")
		x = append(mat(nil), x...)
		for t := range x {
			row := make([]float64, d)
			for j := range row {
				row[j] = x[t][j] + pos[(t+2)*d+j]
			}
			x[t] = row
		}
		ln := func(x mat, name string) mat {
			return x.LayerNorm(w.get(name+".weight"), w.get(name+".bias"), 1e-5)
		}
		act := func(a float64) float64 { return math.Max(a, 0) }
		for i := 0; i < cfg.NumLayers; i++ {
			l := fmt.Sprintf("%slayers.%d.", p, i)
			h := x
			if cfg.DoLayerNormBefore {
				h = ln(x, l+"self_attn_layer_norm")
			}
			o := attend(w.lin(h, l+"self_attn.q_proj", d), w.lin(h, l+"self_attn.k_proj", d), w.lin(h, l+"self_attn.v_proj", d), cfg.NumHeads, cfg.NumHeads, d/cfg.NumHeads)
			x = x.Add(w.lin(o, l+"self_attn.out_proj", d))
			if !cfg.DoLayerNormBefore {
				x = ln(x, l+"self_attn_layer_norm")
			}
			h = x
			if cfg.DoLayerNormBefore {
				h = ln(x, l+"final_layer_norm")
			}
			f := w.lin(h, l+"fc1", cfg.IntermediateSize)
			for _, row := range f {
				for j := range row {
					row[j] = act(row[j])
				}
			}
			x = x.Add(w.lin(f, l+"fc2", d))
			if !cfg.DoLayerNormBefore {
				x = ln(x, l+"final_layer_norm")
			}
		}
		if cfg.DoLayerNormBefore && !cfg.RemoveFinalLayerNorm {
			x = ln(x, p+"final_layer_norm")
		}
		if cfg.EmbedDim() != d {
			x = w.lin(x, p+"project_out", cfg.EmbedDim())
		}
		head = p + "embed_tokens"
	case Llama:
		p := prefix + "model."
		hd := cfg.HeadDim
		silu := func(a float64) float64 { return a / (1 + math.Exp(-a)) }
		for i := 0; i < cfg.NumLayers; i++ {
			l := fmt.Sprintf("%slayers.%d.", p, i)
			h := rmsNormRef(x, w.get(l+"input_layernorm.weight"), cfg.RMSNormEps)
			q := w.lin(h, l+"self_attn.q_proj", cfg.NumHeads*hd)
			k := w.lin(h, l+"self_attn.k_proj", cfg.NumKVHeads*hd)
			vv := w.lin(h, l+"self_attn.v_proj", cfg.NumKVHeads*hd)
			ropeRef(q, cfg.NumHeads, hd, cfg.RopeTheta, cfg.RopeScalingFactor)
			ropeRef(k, cfg.NumKVHeads, hd, cfg.RopeTheta, cfg.RopeScalingFactor)
			o := attend(q, k, vv, cfg.NumHeads, cfg.NumKVHeads, hd)
			x = x.Add(w.lin(o, l+"self_attn.o_proj", d))
			h = rmsNormRef(x, w.get(l+"post_attention_layernorm.weight"), cfg.RMSNormEps)
			g := w.lin(h, l+"mlp.gate_proj", cfg.IntermediateSize)
			u := w.lin(h, l+"mlp.up_proj", cfg.IntermediateSize)
			for r := range g {
				for j := range g[r] {
					g[r][j] = silu(g[r][j]) * u[r][j]
				}
			}
			x = x.Add(w.lin(g, l+"mlp.down_proj", d))
		}
		x = rmsNormRef(x, w.get(p+"norm.weight"), cfg.RMSNormEps)
		head = p + "embed_tokens"
	}
	if !cfg.TieWordEmbeddings {
		head = prefix + "lm_head"
	}
	return x.Linear(w.get(head+".weight"), nil, v)
}

// refEmbed looks ids up in the reference's token embedding.
func refEmbed(cfg Config, w *weights, prefix string, ids []int) mat {
	name := prefix + "model.embed_tokens.weight"
	if cfg.ModelType == OPT {
		name = prefix + "model.decoder.embed_tokens.weight"
	}
	tab := w.get(name)
	e := cfg.EmbedDim()
	out := make(mat, len(ids))
	for i, id := range ids {
		out[i] = tab[id*e : (id+1)*e]
	}
	return out
}
