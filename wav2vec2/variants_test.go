package wav2vec2

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// The fixtures cover wav2vec2-base (group norm, post-LN encoder,
// weight_g/weight_v) and hubert-large (layer norm, stable layer norm). These
// tests cover the other variants, and padded batches, against a direct
// float64 transcription of transformers' modeling_wav2vec2.py and
// modeling_hubert.py.

type variant struct {
	name         string
	featNorm     string
	stable       bool
	convBias     bool
	posKernel    int
	weightNames  string // "gv", "param" or "folded"
	hubert       bool
	noFeatProjLN bool // HuBERT's feat_proj_layer_norm false
}

var variants = []variant{
	{"base_group_postLN_gv", "group", false, false, 4, "gv", false, false},
	{"lv60_layer_stable_param", "layer", true, true, 4, "param", false, false},
	{"layer_postLN_oddkernel_gv", "layer", false, false, 3, "gv", false, false},
	{"group_stable_folded", "group", true, true, 5, "folded", false, false},
	{"hubert_large_layer_stable_param", "layer", true, true, 4, "param", true, false},
	{"hubert_base_group_postLN_noprojLN_gv", "group", false, false, 3, "gv", true, true},
}

func smallConfig(v variant) Config {
	c := DefaultConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 8, 2, 2, 16
	c.ConvDim = []int{4, 6, 5}
	c.ConvKernel = []int{5, 3, 2}
	c.ConvStride = []int{3, 2, 2}
	c.ConvBias = v.convBias
	c.FeatExtractNorm = v.featNorm
	c.DoStableLayerNorm = v.stable
	c.NumConvPosEmbeddings, c.NumConvPosEmbeddingGroups = v.posKernel, 2
	c.VocabSize = 7
	if v.hubert {
		c.ModelType = ModelTypeHubert
		c.FeatProjLayerNorm = !v.noFeatProjLN
	}
	return c
}

// randomStore fills every tensor the variant needs with seeded values.
func randomStore(t *testing.T, c Config, v variant, seed uint64) *checkpoint.Store {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	m := map[string]*tensor.Tensor{}
	put := func(name string, scale, offset float64, shape ...int) {
		m[name] = expected.Uniform(r, scale, offset, shape...)
	}
	base := c.weightPrefix() + "."
	in := 1
	for i, out := range c.ConvDim {
		p := fmt.Sprintf(base+"feature_extractor.conv_layers.%d.", i)
		put(p+"conv.weight", 0.8, 0, out, in, c.ConvKernel[i])
		if c.ConvBias {
			put(p+"conv.bias", 0.3, 0, out)
		}
		if c.FeatExtractNorm == "layer" || i == 0 {
			put(p+"layer_norm.weight", 0.3, 1, out)
			put(p+"layer_norm.bias", 0.3, 0, out)
		}
		in = out
	}
	d, last := c.HiddenSize, c.ConvDim[len(c.ConvDim)-1]
	if c.hasFeatProjLayerNorm() {
		put(base+"feature_projection.layer_norm.weight", 0.3, 1, last)
		put(base+"feature_projection.layer_norm.bias", 0.3, 0, last)
	}
	put(base+"feature_projection.projection.weight", 0.5, 0, d, last)
	put(base+"feature_projection.projection.bias", 0.2, 0, d)
	pc := base + "encoder.pos_conv_embed.conv."
	k, g := c.NumConvPosEmbeddings, c.NumConvPosEmbeddingGroups
	switch v.weightNames {
	case "gv":
		put(pc+"weight_g", 0.5, 1, 1, 1, k)
		put(pc+"weight_v", 0.5, 0, d, d/g, k)
	case "param":
		put(pc+"parametrizations.weight.original0", 0.5, 1, 1, 1, k)
		put(pc+"parametrizations.weight.original1", 0.5, 0, d, d/g, k)
	case "folded":
		put(pc+"weight", 0.3, 0, d, d/g, k)
	}
	put(pc+"bias", 0.2, 0, d)
	put(base+"encoder.layer_norm.weight", 0.3, 1, d)
	put(base+"encoder.layer_norm.bias", 0.3, 0, d)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf(base+"encoder.layers.%d.", i)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			put(p+"attention."+n+".weight", 0.5, 0, d, d)
			put(p+"attention."+n+".bias", 0.2, 0, d)
		}
		put(p+"layer_norm.weight", 0.3, 1, d)
		put(p+"layer_norm.bias", 0.3, 0, d)
		put(p+"final_layer_norm.weight", 0.3, 1, d)
		put(p+"final_layer_norm.bias", 0.3, 0, d)
		put(p+"feed_forward.intermediate_dense.weight", 0.5, 0, c.IntermediateSize, d)
		put(p+"feed_forward.intermediate_dense.bias", 0.2, 0, c.IntermediateSize)
		put(p+"feed_forward.output_dense.weight", 0.5, 0, d, c.IntermediateSize)
		put(p+"feed_forward.output_dense.bias", 0.2, 0, d)
	}
	put("lm_head.weight", 0.5, 0, c.VocabSize, d)
	put("lm_head.bias", 0.2, 0, c.VocabSize)
	return checkpoint.NewStore("synthetic", m)
}

// ---- float64 reference, written from modeling_wav2vec2.py ----

type mat = testdata.Mat // [rows][cols]

func get(s *checkpoint.Store, name string) []float64 {
	t, ok := s.Get(name)
	if !ok {
		return nil
	}
	d := t.Contiguous().Data()
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

func gelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

// refConv1d: x [cin][L], w [cout][cin/groups][k] flat, PyTorch semantics.
func refConv1d(x mat, w, b []float64, cout, k, stride, pad, groups int) mat {
	cin, l := len(x), len(x[0])
	lout := (l+2*pad-k)/stride + 1
	cpg, opg := cin/groups, cout/groups
	y := make(mat, cout)
	for o := 0; o < cout; o++ {
		y[o] = make([]float64, lout)
		grp := o / opg
		for t := 0; t < lout; t++ {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for ci := 0; ci < cpg; ci++ {
				for j := 0; j < k; j++ {
					pos := t*stride - pad + j
					if pos < 0 || pos >= l {
						continue
					}
					s += w[(o*cpg+ci)*k+j] * x[grp*cpg+ci][pos]
				}
			}
			y[o][t] = s
		}
	}
	return y
}

func transpose(x mat) mat {
	y := make(mat, len(x[0]))
	for i := range y {
		y[i] = make([]float64, len(x))
		for j := range x {
			y[i][j] = x[j][i]
		}
	}
	return y
}

func lnRows(x mat, s *checkpoint.Store, p string, eps float64) mat {
	return x.LayerNorm(get(s, p+".weight"), get(s, p+".bias"), eps)
}

// refAttention is self-attention over the first keys frames of x (all of
// them when keys is len(x)): transformers' additive finfo.min mask on the
// others gives them zero weight.
func refAttention(x mat, s *checkpoint.Store, p string, heads, keys int) mat {
	d := len(x[0])
	q := x.Linear(get(s, p+"q_proj.weight"), get(s, p+"q_proj.bias"), d)
	k := x.Linear(get(s, p+"k_proj.weight"), get(s, p+"k_proj.bias"), d)
	v := x.Linear(get(s, p+"v_proj.weight"), get(s, p+"v_proj.bias"), d)
	// q·scaling·k, as transformers scales the queries
	scaling := math.Pow(float64(d/heads), -0.5)
	for i := range q {
		for c := range q[i] {
			q[i][c] *= scaling
		}
	}
	o := q.Attention(k[:keys], v[:keys], heads, 1, false)
	return o.Linear(get(s, p+"out_proj.weight"), get(s, p+"out_proj.bias"), d)
}

func refFeedForward(x mat, s *checkpoint.Store, p string, c Config) mat {
	h := x.Linear(get(s, p+"intermediate_dense.weight"), get(s, p+"intermediate_dense.bias"), c.IntermediateSize)
	for i := range h {
		for j := range h[i] {
			h[i][j] = gelu(h[i][j])
		}
	}
	return h.Linear(get(s, p+"output_dense.weight"), get(s, p+"output_dense.bias"), c.HiddenSize)
}

// refLogits is Wav2Vec2ForCTC.forward (HubertForCTC.forward for HuBERT) in
// eval mode for one waveform.
func refLogits(s *checkpoint.Store, c Config, input []float32) mat {
	return refLogitsMasked(s, c, input, -1)
}

// refLogitsMasked is refLogits for one row of a padded batch whose
// attention mask covers the first valid samples (no mask when valid < 0).
func refLogitsMasked(s *checkpoint.Store, c Config, input []float32, valid int) mat {
	base := c.weightPrefix() + "."
	x := mat{make([]float64, len(input))}
	for i, v := range input {
		x[0][i] = float64(v)
	}
	// Feature encoder.
	for i, out := range c.ConvDim {
		p := fmt.Sprintf(base+"feature_extractor.conv_layers.%d.", i)
		var b []float64
		if c.ConvBias {
			b = get(s, p+"conv.bias")
		}
		x = refConv1d(x, get(s, p+"conv.weight"), b, out, c.ConvKernel[i], c.ConvStride[i], 0, 1)
		switch {
		case c.FeatExtractNorm == "group" && i == 0:
			// nn.GroupNorm(num_groups=C, num_channels=C): each channel over time.
			w, bb := get(s, p+"layer_norm.weight"), get(s, p+"layer_norm.bias")
			for ch := range x {
				row := mat{x[ch]}.LayerNorm(nil, nil, 1e-5)[0]
				for j := range row {
					row[j] = row[j]*w[ch] + bb[ch]
				}
				x[ch] = row
			}
		case c.FeatExtractNorm == "layer":
			x = transpose(lnRows(transpose(x), s, p+"layer_norm", 1e-5))
		}
		for ch := range x {
			for j := range x[ch] {
				x[ch][j] = gelu(x[ch][j])
			}
		}
	}
	feats := transpose(x) // [T, C]
	eps := c.LayerNormEps
	if c.hasFeatProjLayerNorm() {
		feats = lnRows(feats, s, base+"feature_projection.layer_norm", eps)
	}
	h := feats.Linear(get(s, base+"feature_projection.projection.weight"), get(s, base+"feature_projection.projection.bias"), c.HiddenSize)
	keys := len(h)
	if valid >= 0 {
		// The feature-level mask: frames past the valid samples' output
		// length are zeroed and never attended to.
		keys = c.OutputFrames(valid)
		for i := keys; i < len(h); i++ {
			clear(h[i])
		}
	}

	// Positional conv embedding with weight norm over dims (0, 1).
	pc := base + "encoder.pos_conv_embed.conv."
	k, g, d := c.NumConvPosEmbeddings, c.NumConvPosEmbeddingGroups, c.HiddenSize
	var w []float64
	if gg := get(s, pc+"weight_g"); gg != nil {
		w = weightNormRef(gg, get(s, pc+"weight_v"), k)
	} else if gg := get(s, pc+"parametrizations.weight.original0"); gg != nil {
		w = weightNormRef(gg, get(s, pc+"parametrizations.weight.original1"), k)
	} else {
		w = get(s, pc+"weight")
	}
	pos := refConv1d(transpose(h), w, get(s, pc+"bias"), d, k, 1, k/2, g)
	if k%2 == 0 {
		for i := range pos {
			pos[i] = pos[i][:len(pos[i])-1]
		}
	}
	for i := range pos {
		for j := range pos[i] {
			pos[i][j] = gelu(pos[i][j])
		}
	}
	h = h.Add(transpose(pos))
	if !c.DoStableLayerNorm {
		h = lnRows(h, s, base+"encoder.layer_norm", eps)
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf(base+"encoder.layers.%d.", i)
		if c.DoStableLayerNorm {
			h = h.Add(refAttention(lnRows(h, s, p+"layer_norm", eps), s, p+"attention.", c.NumAttentionHeads, keys))
			h = h.Add(refFeedForward(lnRows(h, s, p+"final_layer_norm", eps), s, p+"feed_forward.", c))
		} else {
			h = lnRows(h.Add(refAttention(h, s, p+"attention.", c.NumAttentionHeads, keys)), s, p+"layer_norm", eps)
			h = lnRows(h.Add(refFeedForward(h, s, p+"feed_forward.", c)), s, p+"final_layer_norm", eps)
		}
	}
	if c.DoStableLayerNorm {
		h = lnRows(h, s, base+"encoder.layer_norm", eps)
	}
	return h.Linear(get(s, "lm_head.weight"), get(s, "lm_head.bias"), c.VocabSize)
}

// weightNormRef is torch._weight_norm(v, g, dim=2): v·g/‖v‖ per kernel tap.
func weightNormRef(g, v []float64, k int) []float64 {
	norm := make([]float64, k)
	for i, x := range v {
		norm[i%k] += x * x
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * g[i%k] / math.Sqrt(norm[i%k])
	}
	return out
}

func TestVariantsMatchReference(t *testing.T) {
	ctx := context.Background()
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			n, c, s := smallNetwork(t, v, uint64(i+1))
			if un := s.Unused(); len(un) > 0 {
				t.Errorf("weights not read: %v", un)
			}
			r := rand.New(rand.NewPCG(99, uint64(i)))
			input := make([]float32, 157)
			for j := range input {
				input[j] = float32(r.NormFloat64())
			}
			got, err := n.Logits(ctx, input)
			if err != nil {
				t.Fatal(err)
			}
			want := refLogits(s, c, input)
			if got.Dim(0) != len(want) || got.Dim(1) != c.VocabSize {
				t.Fatalf("logits %v, want [%d %d]", got.Shape(), len(want), c.VocabSize)
			}
			if got.Dim(0) != c.OutputFrames(len(input)) {
				t.Errorf("OutputFrames = %d, network made %d", c.OutputFrames(len(input)), got.Dim(0))
			}
			maxd := refDiff(got, want)
			t.Logf("%d frames, max|Δ| vs float64 reference = %.3g", len(want), maxd)
			if maxd > 1e-4 {
				t.Errorf("max|Δ| = %g > 1e-4", maxd)
			}
		})
	}
}

func TestMissingWeightsListed(t *testing.T) {
	v := variants[1]
	c := smallConfig(v)
	s := randomStore(t, c, v, 7)
	s.Delete("wav2vec2.encoder.layers.1.attention.q_proj.weight")
	s.Delete("wav2vec2.feature_extractor.conv_layers.2.layer_norm.bias")
	s.Delete("wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0")
	_, err := NewNetwork(c, s.Root())
	expected.MissingWeights(t, err, "layers.1.attention.q_proj.weight", "conv_layers.2.layer_norm.bias", "original0")
}

func TestShortAndBadInput(t *testing.T) {
	n, _, _ := smallNetwork(t, variants[0], 3)
	m := smallModel(t, n, DefaultFeatureExtractorConfig())
	ctx := context.Background()
	// The receptive field of kernels 5,3,2 with strides 3,2,2 is 17 samples.
	for _, samples := range [][]float32{nil, make([]float32, 16)} {
		if _, err := m.Transcribe(ctx, samples, Options{}); !errors.Is(err, ErrInput) {
			t.Errorf("%d samples: err = %v, want ErrInput", len(samples), err)
		}
	}
	if _, err := m.Transcribe(ctx, make([]float32, 17), Options{}); err != nil {
		t.Errorf("17 samples: %v", err)
	}
	bad := make([]float32, 100)
	bad[50] = float32(math.NaN())
	if _, err := m.Transcribe(ctx, bad, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("NaN sample: err = %v, want ErrInput", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Transcribe(cctx, make([]float32, 100), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"missing", `{"hidden_size": 8}`, "num_hidden_layers"},
		{"arch", `{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "architectures": ["Wav2Vec2ForPreTraining"]}`, "Wav2Vec2ForPreTraining"},
		{"heads", `{"hidden_size": 33, "num_hidden_layers": 1, "num_attention_heads": 2}`, "multiple"},
		{"conv", `{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "conv_dim": [4, 4], "conv_stride": [2], "conv_kernel": [3, 3]}`, "conv_dim"},
		{"norm", `{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "feat_extract_norm": "batch"}`, "feat_extract_norm"},
		{"adapter", `{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "adapter_attn_dim": 16}`, "adapter"},
		{"syntax", `{"hidden_size": `, "invalid config"},
	} {
		_, err := ParseConfig(tc.name, []byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	c, err := ParseConfig("ok", []byte(`{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.InputsToLogitsRatio() != 320 || c.OutputFrames(400) != 1 || c.OutputFrames(399) != 0 || c.OutputFrames(16000) != 49 {
		t.Errorf("default conv stack: ratio %d, frames(400) %d, frames(399) %d, frames(16000) %d",
			c.InputsToLogitsRatio(), c.OutputFrames(400), c.OutputFrames(399), c.OutputFrames(16000))
	}
}

// TestNewAndWith builds the wav2vec2 fixture with New over a store of the
// caller's: its logits equal Load's bit for bit, it transcribes only once
// given a tokenizer (WithTokenizer, as Load's), its Close leaves the store
// open, and a store without a CTC head is refused.
func TestNewAndWith(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "wav2vec2"), "model")
	ctx := context.Background()
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	store, cfg := expected.StoreAndConfig(t, dir, LoadConfig)
	m, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	pcm := make([]float32, 16000)
	for i := range pcm {
		pcm[i] = float32(r.NormFloat64() * 0.1)
	}
	logits := func(x *Model) (*tensor.Tensor, error) { return x.Logits(ctx, pcm) }
	expected.SameValues(t, "logits of Load's and New's models", loaded, m, logits)
	if _, err := m.Transcribe(ctx, pcm, Options{}); !errors.Is(err, errNoTokenizer) {
		t.Errorf("Transcribe without a tokenizer: %v", err)
	}
	if _, err := m.TranscribeBatch(ctx, [][]float32{pcm}, Options{}); !errors.Is(err, errNoTokenizer) {
		t.Errorf("TranscribeBatch without a tokenizer: %v", err)
	}
	withTok := m.WithTokenizer(loaded.Tokenizer())
	if m.Tokenizer() != nil || withTok.Tokenizer() != loaded.Tokenizer() {
		t.Error("WithTokenizer changed the original or did not set the copy's")
	}
	expected.Same(t, "transcripts of Load's model and New's with its tokenizer", loaded, withTok, func(x *Model) (*Result, error) {
		return x.Transcribe(ctx, pcm, Options{})
	})

	fe := DefaultFeatureExtractorConfig()
	fe.DoNormalize = false
	raw, err := withTok.WithFeatureExtractor(fe)
	if err != nil {
		t.Fatal(err)
	}
	if iv, _ := raw.InputValues(pcm); !slices.Equal(iv, pcm) {
		t.Error("WithFeatureExtractor(DoNormalize: false): the input values are not the samples")
	}
	if iv, _ := withTok.InputValues(pcm); slices.Equal(iv, pcm) {
		t.Error("WithFeatureExtractor changed the original model")
	}
	if _, err := m.WithFeatureExtractor(FeatureExtractorConfig{SamplingRate: 0, FeatureSize: 1}); !errors.Is(err, nn.ErrConfig) {
		t.Errorf("WithFeatureExtractor of a zero rate: %v", err)
	}

	// Close leaves the caller's store open.
	expected.CloseKeepsStore(t, withTok, store)
	expected.SameValues(t, "logits after a copy of New's model was closed", loaded, m, logits)

	if _, err := New(cfg, expected.Without(t, store, "lm_head.weight", "lm_head.bias").Root()); !errors.Is(err, checkpoint.ErrMissingWeights) {
		t.Errorf("New without a CTC head: %v", err)
	}
}
