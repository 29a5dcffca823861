package llm

import (
	"context"
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
	"sync"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// testConfigs are small models over every architectural option.
func testConfigs() map[string]Config {
	opt := func(f func(*Config)) Config {
		c, _ := DefaultConfig(OPT)
		c.VocabSize, c.HiddenSize, c.NumLayers, c.NumHeads, c.NumKVHeads, c.HeadDim = 97, 24, 2, 3, 3, 8
		c.IntermediateSize, c.MaxPositions, c.WordEmbedProjDim = 40, 64, 24
		c.EOSTokenIDs = []int{2}
		f(&c)
		return c
	}
	llama := func(f func(*Config)) Config {
		c, _ := DefaultConfig(Llama)
		c.VocabSize, c.HiddenSize, c.NumLayers, c.NumHeads, c.NumKVHeads, c.HeadDim = 89, 32, 2, 4, 4, 8
		c.IntermediateSize, c.MaxPositions, c.WordEmbedProjDim, c.RMSNormEps = 48, 64, 32, 1e-5
		f(&c)
		return c
	}
	return map[string]Config{
		"opt":               opt(func(*Config) {}),
		"opt_postnorm_proj": opt(func(c *Config) { c.DoLayerNormBefore, c.WordEmbedProjDim = false, 16 }),
		"opt_proj_untied":   opt(func(c *Config) { c.WordEmbedProjDim, c.TieWordEmbeddings = 16, false }),
		"opt_plain": opt(func(c *Config) {
			c.EnableBias, c.LayerNormElementwiseAffine, c.RemoveFinalLayerNorm = false, false, true
		}),
		"llama":              llama(func(*Config) {}),
		"llama_gqa":          llama(func(c *Config) { c.NumKVHeads = 2 }),
		"llama_mqa_headdim":  llama(func(c *Config) { c.NumKVHeads, c.HeadDim = 1, 12 }),
		"llama_scaled_theta": llama(func(c *Config) { c.RopeTheta, c.RopeScalingFactor = 500000, 2 }),
		"llama_bias_tied":    llama(func(c *Config) { c.AttentionBias, c.MLPBias, c.TieWordEmbeddings = true, true, true }),
	}
}

func newTestModel(t *testing.T, cfg Config, seed uint64, prefix string) (*Model, *weights) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w := randomWeights(cfg, seed, prefix)
	m, err := New(cfg, w.store().Root().Sub(strings.TrimSuffix(prefix, ".")))
	if err != nil {
		t.Fatal(err)
	}
	return m, w
}

func randIDs(r *rand.Rand, n, vocab int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.IntN(vocab)
	}
	return ids
}

// maxDiffRows compares rows of logits [T, V] (a tensor's rows lo…hi)
// with reference rows.
func maxDiffRows(got []float32, v int, want mat) float64 {
	var m float64
	for i, row := range want {
		for j, x := range row {
			d := math.Abs(float64(got[i*v+j]) - x)
			if math.IsNaN(d) {
				return math.Inf(1)
			}
			m = max(m, d)
		}
	}
	return m
}

func TestModelMatchesReference(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			for _, prefix := range []string{"", "language_model."} {
				m, w := newTestModel(t, cfg, 3, prefix)
				r := rand.New(rand.NewPCG(4, 5))
				ids := randIDs(r, 9, cfg.VocabSize)
				want := refLogits(cfg, w, prefix, refEmbed(cfg, w, prefix, ids))
				v := cfg.VocabSize
				// All positions at once.
				d := maxDiffRows(logitsOf(t, m, embed(t, m, ids)).Data(), v, want)
				t.Logf("%q: logits max|Δ| = %.2g", prefix, d)
				if d > 1e-4 {
					t.Errorf("%q: logits max|Δ| = %g", prefix, d)
				}
				// Prefill part, then one token at a time through the cache.
				st, _ := m.NewState(1)
				lg, err := st.PrefillIDs(ctx, [][]int{ids[:4]}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiffRows(lg.Data(), v, want[3:4]); d > 1e-4 {
					t.Errorf("%q: prefill logits max|Δ| = %g", prefix, d)
				}
				for i := 4; i < len(ids); i++ {
					lg, err = st.Step(ctx, []int{ids[i]})
					if err != nil {
						t.Fatal(err)
					}
					if d := maxDiffRows(lg.Data(), v, want[i:i+1]); d > 1e-4 {
						t.Errorf("%q: step %d logits max|Δ| = %g", prefix, i, d)
					}
				}
				if st.Len() != len(ids) {
					t.Errorf("state length %d after %d tokens", st.Len(), len(ids))
				}
				st.Release()
			}
		})
	}
}

// TestLeftPadding checks that a left-padded batch gives every sequence
// what it gets alone, positions counted from its first real token.
func TestLeftPadding(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			m, w := newTestModel(t, cfg, 8, "")
			r := rand.New(rand.NewPCG(6, 7))
			lens := []int{7, 3, 5}
			tmax := 7
			var rows [][]int
			var pad []int
			var want []mat
			for _, n := range lens {
				ids := randIDs(r, n, cfg.VocabSize)
				want = append(want, refLogits(cfg, w, "", refEmbed(cfg, w, "", ids)))
				padded := append(randIDs(r, tmax-n, cfg.VocabSize), ids...)
				rows = append(rows, padded)
				pad = append(pad, tmax-n)
			}
			st, _ := m.NewState(len(lens))
			defer st.Release()
			x, err := m.EmbedBatch(rows)
			if err != nil {
				t.Fatal(err)
			}
			lg, err := st.Logits(ctx, x, pad)
			if err != nil {
				t.Fatal(err)
			}
			v := cfg.VocabSize
			ld := lg.Data()
			for b := range lens {
				got := ld[(b*tmax+pad[b])*v : (b+1)*tmax*v]
				if d := maxDiffRows(got, v, want[b]); d > 1e-4 {
					t.Errorf("row %d (%d padding): logits max|Δ| = %g", b, pad[b], d)
				}
			}
			// Decoding on: a step appends the same token to every row.
			next := r.IntN(v)
			lg, err = st.Step(ctx, []int{next, next, next})
			if err != nil {
				t.Fatal(err)
			}
			for b, n := range lens {
				ids := append(slices.Clone(rows[b][pad[b]:]), next)
				ref := refLogits(cfg, w, "", refEmbed(cfg, w, "", ids))
				if d := maxDiffRows(lg.Data()[b*v:(b+1)*v], v, ref[n:]); d > 1e-4 {
					t.Errorf("row %d: step logits max|Δ| = %g", b, d)
				}
			}
			// Reordering keeps each row's padding with it.
			if err := st.Reorder([]int{2, 0}); err != nil {
				t.Fatal(err)
			}
			next2 := r.IntN(v)
			lg, err = st.Step(ctx, []int{next2, next2})
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range []int{2, 0} {
				ids := append(slices.Clone(rows[b][pad[b]:]), next, next2)
				ref := refLogits(cfg, w, "", refEmbed(cfg, w, "", ids))
				if d := maxDiffRows(lg.Data()[i*v:(i+1)*v], v, ref[len(ids)-1:]); d > 1e-4 {
					t.Errorf("reordered row %d (old %d): logits max|Δ| = %g", i, b, d)
				}
			}
		})
	}
}

// TestGQAEqualsRepeatedHeads checks grouped-query attention against the
// same model with every key/value head repeated for its group (what
// transformers' repeat_kv computes).
func TestGQAEqualsRepeatedHeads(t *testing.T) {
	cfg := testConfigs()["llama_gqa"]
	m, w := newTestModel(t, cfg, 12, "")
	full := cfg
	full.NumKVHeads = cfg.NumHeads
	g := cfg.NumHeads / cfg.NumKVHeads
	fw := &weights{vals: map[string][]float32{}, shapes: map[string][]int{}}
	for n, v := range w.vals {
		fw.vals[n], fw.shapes[n] = v, w.shapes[n]
	}
	hd, d := cfg.HeadDim, cfg.HiddenSize
	for i := 0; i < cfg.NumLayers; i++ {
		for _, p := range []string{"k_proj", "v_proj"} {
			name := fmt.Sprintf("model.layers.%d.self_attn.%s.weight", i, p)
			src := w.vals[name]
			var out []float32
			for h := 0; h < cfg.NumHeads; h++ {
				kh := h / g
				out = append(out, src[kh*hd*d:(kh+1)*hd*d]...)
			}
			fw.vals[name], fw.shapes[name] = out, []int{cfg.NumHeads * hd, d}
		}
	}
	mf, err := New(full, fw.store().Root())
	if err != nil {
		t.Fatal(err)
	}
	ids := randIDs(rand.New(rand.NewPCG(1, 1)), 6, cfg.VocabSize)
	ctx := context.Background()
	var out [2]*tensor.Tensor
	for i, mm := range []*Model{m, mf} {
		st, _ := mm.NewState(1)
		x, _ := mm.Embed(ids)
		if out[i], err = st.Logits(ctx, x, nil); err != nil {
			t.Fatal(err)
		}
	}
	var md float64
	for i, a := range out[0].Data() {
		md = math.Max(md, math.Abs(float64(a-out[1].Data()[i])))
	}
	if md > 1e-5 {
		t.Errorf("grouped-query and repeated-head logits differ by %g", md)
	}
}

// TestSixteenBitWeights loads F16 and BF16 checkpoints (weights kept
// 16-bit, exact) and packs an F32 one as BF16 (rounded).
func TestSixteenBitWeights(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"opt_proj_untied", "llama_gqa"} {
		cfg := testConfigs()[name]
		for _, dt := range []string{"F16", "BF16", "F32+BF16"} {
			t.Run(name+"/"+dt, func(t *testing.T) {
				w := randomWeights(cfg, 21, "")
				dir := t.TempDir()
				writeConfig(t, dir, cfg)
				fileType, opts := dt, []nn.LoadOption(nil)
				if dt == "F32+BF16" {
					fileType, opts = "F32", []nn.LoadOption{nn.WithWeightType(tensor.WeightBF16)}
				} else {
					w.round(dt) // the reference sees the stored values
				}
				w.write(t, filepath.Join(dir, "model.safetensors"), fileType)
				m, err := Load(dir, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				// Linear weights and the embedding stay 16-bit.
				var ls []*nn.Linear
				if cfg.ModelType == Llama {
					ls = []*nn.Linear{m.layers[0].q, m.layers[1].down, m.head}
				} else {
					ls = []*nn.Linear{m.blocks[0].SelfAttn.Q, m.blocks[1].MLP.FC2, m.head, m.projIn}
				}
				for i, l := range append(ls, m.embed) {
					if fileType != "F32" && l.W != nil {
						t.Errorf("linear %d was widened to float32", i)
					}
					if l.Type == tensor.WeightF32 {
						t.Errorf("linear %d is packed as float32", i)
					}
				}
				ids := randIDs(rand.New(rand.NewPCG(2, 2)), 7, cfg.VocabSize)
				want := refLogits(cfg, w, "", refEmbed(cfg, w, "", ids))
				st, _ := m.NewState(1)
				defer st.Release()
				lg, err := st.PrefillIDs(ctx, [][]int{ids}, nil)
				if err != nil {
					t.Fatal(err)
				}
				tol := 1e-4
				if fileType == "F32" {
					tol = 0.15 // the weights are rounded to BF16
				}
				d := maxDiffRows(lg.Data(), cfg.VocabSize, want[len(ids)-1:])
				t.Logf("last-position logits max|Δ| = %.3g", d)
				if d > tol {
					t.Errorf("logits max|Δ| = %g > %g", d, tol)
				}
				if err := m.Close(); err != nil {
					t.Error(err)
				}
				if err := m.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
			})
		}
	}
}

func writeConfig(t *testing.T, dir string, cfg Config) {
	t.Helper()
	js := map[string]any{
		"model_type": cfg.ModelType, "vocab_size": cfg.VocabSize, "hidden_size": cfg.HiddenSize,
		"num_hidden_layers": cfg.NumLayers, "num_attention_heads": cfg.NumHeads,
		"max_position_embeddings": cfg.MaxPositions, "tie_word_embeddings": cfg.TieWordEmbeddings,
		"eos_token_id": cfg.EOSTokenIDs,
	}
	if cfg.ModelType == OPT {
		js["ffn_dim"], js["word_embed_proj_dim"], js["do_layer_norm_before"] = cfg.IntermediateSize, cfg.WordEmbedProjDim, cfg.DoLayerNormBefore
		js["enable_bias"], js["layer_norm_elementwise_affine"] = cfg.EnableBias, cfg.LayerNormElementwiseAffine
		js["_remove_final_layer_norm"] = cfg.RemoveFinalLayerNorm
	} else {
		js["intermediate_size"], js["num_key_value_heads"], js["head_dim"] = cfg.IntermediateSize, cfg.NumKVHeads, cfg.HeadDim
		js["rms_norm_eps"], js["rope_theta"], js["attention_bias"], js["mlp_bias"] = cfg.RMSNormEps, cfg.RopeTheta, cfg.AttentionBias, cfg.MLPBias
		if cfg.RopeScalingFactor > 1 {
			js["rope_scaling"] = map[string]any{"type": "linear", "factor": cfg.RopeScalingFactor}
		}
	}
	writeJSON(t, filepath.Join(dir, "config.json"), js)
}

// TestLoadDirectory loads plain checkpoints and checks that the config
// round-trips and generation_config.json sets the defaults.
func TestLoadDirectory(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeConfig(t, dir, cfg)
			randomWeights(cfg, 5, "").write(t, filepath.Join(dir, "model.safetensors"), "F32")
			writeJSON(t, filepath.Join(dir, "generation_config.json"), map[string]any{
				"max_new_tokens": 7, "do_sample": true, "top_p": 0.9, "repetition_penalty": 1.1, "eos_token_id": []int{2, 5},
			})
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := m.Config()
			if !configEqual(got, cfg) {
				t.Errorf("config\n got %+v\nwant %+v", got, cfg)
			}
			o := m.DefaultOptions()
			if o.MaxNewTokens != 7 || o.RepetitionPenalty != 1.1 || !slices.Equal(o.EOS, []int{2, 5}) ||
				o.Sample == nil || o.Sample.TopK != 50 || o.Sample.TopP != 0.9 || o.LengthPenalty != 1 {
				t.Errorf("defaults from generation_config.json: %+v (sampling %+v)", o, o.Sample)
			}
			// Missing tensors are all named in one error.
			dir2 := t.TempDir()
			writeConfig(t, dir2, cfg)
			w := randomWeights(cfg, 5, "")
			var dropped []string
			for n := range w.vals {
				if len(dropped) < 2 {
					dropped = append(dropped, n)
					delete(w.vals, n)
				}
			}
			w.write(t, filepath.Join(dir2, "model.safetensors"), "F32")
			_, err = Load(dir2)
			expected.MissingWeights(t, err, dropped...)
		})
	}
}

func configEqual(a, b Config) bool {
	return reflect.DeepEqual(a, b)
}

// searchModes are the searches searchOptions sets up.
var searchModes = []string{"greedy", "beam", "sample"}

// searchOptions returns m's defaults for up to six new tokens (at least
// two) with a repetition penalty, searching by mode: greedily, with three
// beams or by seeded sampling.
func searchOptions(m *Model, mode string) GenerateOptions {
	opt := m.DefaultOptions()
	opt.MaxNewTokens, opt.MinNewTokens, opt.RepetitionPenalty = 6, 2, 1.3
	switch mode {
	case "beam":
		opt.NumBeams = 3
	case "sample":
		opt.Sample = &generate.Sampling{Temperature: 0.8, TopK: 20, TopP: 0.95, Seed: 77}
	}
	return opt
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"opt_postnorm_proj", "llama_gqa"} {
		cfg := testConfigs()[name]
		m, _ := newTestModel(t, cfg, 31, "")
		r := rand.New(rand.NewPCG(9, 9))
		prompts := []Prompt{{IDs: randIDs(r, 5, cfg.VocabSize)}, {IDs: randIDs(r, 2, cfg.VocabSize)}, {IDs: randIDs(r, 4, cfg.VocabSize)}}
		// An embeddings prompt equal to its ids' embeddings gives the same.
		emb, _ := m.Embed(prompts[2].IDs)
		prompts = append(prompts, Prompt{IDs: []int{prompts[2].IDs[0]}, Embeds: emb})
		for _, mode := range searchModes {
			opt := searchOptions(m, mode)
			// Each prompt alone, streamed.
			var alone [][]int
			for i, p := range prompts {
				var streamed []int
				o := opt
				o.OnToken = func(id int) { streamed = append(streamed, id) }
				got, err := m.Generate(ctx, p, o)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got[:len(p.IDs)], p.IDs) || len(got) > len(p.IDs)+6 || len(got) <= len(p.IDs) {
					t.Errorf("%s %s prompt %d: %v does not extend %v by 1…6 tokens", name, mode, i, got, p.IDs)
				}
				if !slices.Equal(streamed, got[len(p.IDs):]) {
					t.Errorf("%s %s prompt %d: streamed %v, generated %v", name, mode, i, streamed, got[len(p.IDs):])
				}
				if mode == "greedy" || mode == "sample" {
					// The same call again gives the same text (seeded sampling).
					again, _ := m.Generate(ctx, p, opt)
					if !slices.Equal(again, got) {
						t.Errorf("%s %s prompt %d: %v then %v", name, mode, i, got, again)
					}
				}
				alone = append(alone, got)
			}
			if mode != "sample" && !slices.Equal(alone[3][1:], alone[2][len(prompts[2].IDs):]) {
				t.Errorf("%s %s: embeddings prompt continued with %v, ids prompt with %v", name, mode, alone[3][1:], alone[2][len(prompts[2].IDs):])
			}
			if mode == "sample" {
				continue
			}
			// Together, left-padded: the same results.
			got, err := m.GenerateBatch(ctx, prompts, opt)
			if err != nil {
				t.Fatal(err)
			}
			for i := range prompts {
				if !slices.Equal(got[i], alone[i]) {
					t.Errorf("%s %s: batch row %d %v, alone %v", name, mode, i, got[i], alone[i])
				}
			}
		}
		// Top-k 1 sampling is greedy search.
		opt := m.DefaultOptions()
		opt.MaxNewTokens = 5
		g, _ := m.Generate(ctx, prompts[0], opt)
		opt.Sample = &generate.Sampling{TopK: 1, Temperature: 0.5, Seed: 3}
		s, _ := m.Generate(ctx, prompts[0], opt)
		if !slices.Equal(g, s) {
			t.Errorf("%s: top-k 1 sampling %v, greedy %v", name, s, g)
		}
	}
}

// TestConcurrentUse runs generations on one model from several goroutines.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	cfg := testConfigs()["llama_gqa"]
	m, _ := newTestModel(t, cfg, 41, "")
	prompt := Prompt{IDs: []int{1, 5, 9, 3}}
	opt := m.DefaultOptions()
	opt.MaxNewTokens = 8
	want, err := m.Generate(ctx, prompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	m2, _ := newTestModel(t, cfg, 41, "")
	wg.Add(1)
	go func() { defer wg.Done(); m2.Pack() }() // packing races with generating
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o := opt
			if i%2 == 1 {
				o.NumBeams = 2
			}
			mm := m
			if i >= 4 {
				mm = m2
			}
			got, err := mm.Generate(ctx, prompt, o)
			if err != nil {
				errs <- err.Error()
				return
			}
			if o.NumBeams <= 1 && !slices.Equal(got, want) {
				errs <- "concurrent greedy result differs"
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestCancel(t *testing.T) {
	cfg := testConfigs()["opt"]
	m, _ := newTestModel(t, cfg, 2, "")
	ctx, cancel := context.WithCancel(context.Background())
	opt := m.DefaultOptions()
	opt.MaxNewTokens, opt.MinNewTokens = 30, 30
	n := 0
	opt.OnToken = func(int) {
		if n++; n == 3 {
			cancel()
		}
	}
	_, err := m.Generate(ctx, Prompt{IDs: []int{2, 7}}, opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled generation: %v", err)
	}
	if n != 3 {
		t.Errorf("%d tokens streamed after cancelling at the third", n)
	}
	// A state whose call was cancelled mid-way refuses further use.
	st, _ := m.NewState(1)
	cctx, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := st.PrefillIDs(cctx, [][]int{{2, 3}}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("prefill with a cancelled context: %v", err)
	}
}

func TestInputErrors(t *testing.T) {
	ctx := context.Background()
	cfg := testConfigs()["llama"]
	m, _ := newTestModel(t, cfg, 2, "")
	st, _ := m.NewState(2)
	defer st.Release()
	e := m.EmbedDim()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrInput) {
			t.Errorf("%s: error %v, want ErrInput", what, err)
		}
	}
	_, err := m.Embed([]int{cfg.VocabSize})
	check("id past the vocabulary", err)
	_, err = m.Embed([]int{-1})
	check("negative id", err)
	_, err = m.Embed(nil)
	check("no ids", err)
	_, err = st.Prefill(ctx, tensor.New(1, 3, e), nil)
	check("batch 1 embeddings for a batch-2 state", err)
	_, err = st.Prefill(ctx, tensor.New(2, 3, e+1), nil)
	check("wrong width", err)
	_, err = st.Prefill(ctx, tensor.New(2, cfg.MaxPositions+1, e), nil)
	check("too many positions", err)
	_, err = st.Prefill(ctx, tensor.New(2, 3, e), []int{0, 3})
	check("a row of padding only", err)
	_, err = st.Prefill(ctx, tensor.New(2, 3, e), []int{1})
	check("padding counts for one row", err)
	nan := tensor.New(2, 3, e)
	nan.Data()[5] = float32(math.NaN())
	_, err = st.Prefill(ctx, nan, nil)
	check("NaN embeddings", err)
	_, err = st.Step(ctx, []int{1})
	check("one token for two rows", err)
	if _, err := st.Prefill(ctx, tensor.New(2, 3, e), nil); err != nil {
		t.Fatal(err)
	}
	_, err = st.Prefill(ctx, tensor.New(2, 1, e), []int{0, 0})
	check("padding after the first input", err)
	check("reorder outside the batch", st.Reorder([]int{0, 2}))
	_, err = m.NewState(0)
	check("batch 0", err)

	opt := m.DefaultOptions()
	opt.MaxNewTokens = 4
	_, err = m.Generate(ctx, Prompt{}, opt)
	check("empty prompt", err)
	_, err = m.Generate(ctx, Prompt{IDs: []int{1, cfg.VocabSize}}, opt)
	check("prompt id past the vocabulary", err)
	_, err = m.Generate(ctx, Prompt{IDs: []int{1}, Embeds: tensor.New(2, e)}, opt)
	if err != nil {
		t.Errorf("embeddings prompt: %v", err)
	}
	_, err = m.Generate(ctx, Prompt{IDs: []int{1}, Embeds: tensor.New(2, e+1)}, opt)
	check("embeddings of the wrong width", err)
	o := opt
	o.MaxNewTokens = cfg.MaxPositions
	_, err = m.Generate(ctx, Prompt{IDs: []int{1, 2}}, o)
	check("more new tokens than positions", err)
	o = opt
	o.MaxNewTokens = 0
	_, err = m.Generate(ctx, Prompt{IDs: []int{1, 2}}, o)
	check("nothing to generate", err)
	o = opt
	o.NumBeams, o.Sample = 2, &generate.Sampling{}
	_, err = m.Generate(ctx, Prompt{IDs: []int{1}}, o)
	check("beam sampling", err)
	o = opt
	o.Sample = &generate.Sampling{Temperature: -1}
	_, err = m.Generate(ctx, Prompt{IDs: []int{1}}, o)
	check("negative temperature", err)
	o = opt
	o.OnToken = func(int) {}
	_, err = m.GenerateBatch(ctx, []Prompt{{IDs: []int{1}}, {IDs: []int{2}}}, o)
	check("streaming a batch", err)
	o = opt
	o.EOS = []int{cfg.VocabSize + 3}
	_, err = m.Generate(ctx, Prompt{IDs: []int{1}}, o)
	check("end token past the vocabulary", err)
}

// TestMultimodalLoad loads the language model of a multimodal directory
// (config with text_config, weights under language_model.).
func TestMultimodalLoad(t *testing.T) {
	cfg := testConfigs()["llama"]
	dir := t.TempDir()
	text := map[string]any{
		"model_type": "llama", "vocab_size": cfg.VocabSize, "hidden_size": cfg.HiddenSize,
		"num_hidden_layers": cfg.NumLayers, "num_attention_heads": cfg.NumHeads,
		"intermediate_size": cfg.IntermediateSize, "max_position_embeddings": cfg.MaxPositions, "rms_norm_eps": cfg.RMSNormEps,
	}
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{"model_type": "llava", "text_config": text, "image_token_index": 5})
	w := randomWeights(cfg, 6, "language_model.")
	w.add(rand.New(rand.NewPCG(1, 1)), "multi_modal_projector.linear_1.weight", 1, 4, 4)
	w.write(t, filepath.Join(dir, "model.safetensors"), "F16")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config().ModelType != Llama || m.Config().NumLayers != cfg.NumLayers {
		t.Errorf("config %+v", m.Config())
	}
	// LoadConfig reads the text_config too, as Load did.
	lc, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil || !reflect.DeepEqual(lc, m.Config()) {
		t.Errorf("LoadConfig = %+v, %v; Load's config %+v", lc, err, m.Config())
	}
	if _, err := LoadConfig(filepath.Join(dir, "absent.json")); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "llm: ") {
		t.Errorf("LoadConfig of a missing file: %v", err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
