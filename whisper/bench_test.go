package whisper

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// hubShapes lists every tensor of a Hub Whisper checkpoint for cfg.
func hubShapes(cfg Config) map[string][]int {
	d := cfg.DModel
	s := map[string][]int{
		"model.encoder.conv1.weight":           {d, cfg.NumMelBins, 3},
		"model.encoder.conv1.bias":             {d},
		"model.encoder.conv2.weight":           {d, d, 3},
		"model.encoder.conv2.bias":             {d},
		"model.encoder.embed_positions.weight": {cfg.MaxSourcePositions, d},
		"model.encoder.layer_norm.weight":      {d},
		"model.encoder.layer_norm.bias":        {d},
		"model.decoder.embed_tokens.weight":    {cfg.VocabSize, d},
		"model.decoder.embed_positions.weight": {cfg.MaxTargetPositions, d},
		"model.decoder.layer_norm.weight":      {d},
		"model.decoder.layer_norm.bias":        {d},
	}
	attn := func(p string) {
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			s[p+"."+n+".weight"] = []int{d, d}
			if n != "k_proj" {
				s[p+"."+n+".bias"] = []int{d}
			}
		}
	}
	layer := func(p string, ffn int, cross bool) {
		attn(p + ".self_attn")
		lns := []string{"self_attn_layer_norm", "final_layer_norm"}
		if cross {
			attn(p + ".encoder_attn")
			lns = append(lns, "encoder_attn_layer_norm")
		}
		for _, ln := range lns {
			s[p+"."+ln+".weight"] = []int{d}
			s[p+"."+ln+".bias"] = []int{d}
		}
		s[p+".fc1.weight"], s[p+".fc1.bias"] = []int{ffn, d}, []int{ffn}
		s[p+".fc2.weight"], s[p+".fc2.bias"] = []int{d, ffn}, []int{d}
	}
	for i := 0; i < cfg.EncoderLayers; i++ {
		layer(fmt.Sprintf("model.encoder.layers.%d", i), cfg.EncoderFFN, false)
	}
	for i := 0; i < cfg.DecoderLayers; i++ {
		layer(fmt.Sprintf("model.decoder.layers.%d", i), cfg.DecoderFFN, true)
	}
	return s
}

// randomModel builds a model of the given config with random weights.
func randomModel(tb testing.TB, cfg Config) *Model {
	return randomModelAs(tb, cfg, tensor.WeightF32)
}

// randomModelAs is randomModel with the linear weights packed as wt (as
// WithWeightType does).
func randomModelAs(tb testing.TB, cfg Config, wt tensor.WeightType) *Model {
	tb.Helper()
	st := randomStore(cfg)
	st.WeightType = wt
	m, err := New(cfg, st.Root())
	if err != nil {
		tb.Fatal(err)
	}
	m.store = st // the model's, as Load's: Close frees it
	return m
}

// randomStore holds every tensor of a checkpoint of cfg, with random
// weights (normal, σ = 0.02, the same for every call).
func randomStore(cfg Config) *checkpoint.Store {
	r := rand.New(rand.NewPCG(1, 2))
	ts := map[string]*tensor.Tensor{}
	for name, shape := range hubShapes(cfg) {
		ts[name] = expected.Normal(r, 0.02, shape...)
	}
	return checkpoint.NewStore("random", ts)
}

func baseModel(b *testing.B) *Model {
	cfg, err := LoadConfig(testdata.Path(b, "configs", "whisper-base", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	return randomModel(b, cfg)
}

// startDecoder makes a decoder over the encoder output enc (noCache: the
// decoder recomputes every position instead of using its KV cache) and runs
// the 4-token English transcription prompt through it, returning the
// decoder and the prompt's hidden states.
func startDecoder(tb testing.TB, m *Model, enc *tensor.Tensor, noCache bool) (*Decoder, *tensor.Tensor) {
	tb.Helper()
	dec, err := m.NewDecoder(enc)
	if err != nil {
		tb.Fatal(err)
	}
	dec.noCache = noCache
	h, err := dec.Forward(context.Background(), [][]int{{50258, 50259, 50359, 50363}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return dec, h
}

// greedyStep feeds the most probable token after h's last position and
// returns the new hidden states, releasing what it used (h included) as the
// decoding loop does, so that steady state allocates (almost) nothing. feed
// is a [1][1] buffer.
func greedyStep(tb testing.TB, dec *Decoder, h *tensor.Tensor, feed [][]int) *tensor.Tensor {
	hl := h.Slice(1, h.Dim(1)-1, h.Dim(1))
	l, err := dec.Logits(hl)
	if err != nil {
		tb.Fatal(err)
	}
	feed[0][0] = tensor.Argmax(l.Data())
	tensor.Release(l)
	tensor.Release(hl)
	tensor.Release(h)
	h, err = dec.Forward(context.Background(), feed, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// BenchmarkEncoder encodes one 30-second window at whisper-base size
// (linear weights packed as GOFORMER_BENCH_WEIGHTS says, float32 unset).
func BenchmarkEncoder(b *testing.B) {
	m := baseModel(b)
	if wt := expected.BenchWeightType(b); wt != tensor.WeightF32 {
		m = randomModelAs(b, m.Config, wt)
	}
	mel := tensor.New(m.Config.NumMelBins, m.Config.NumFrames())
	ctx := context.Background()
	// One untimed pass packs the weights (a one-time load cost, measured
	// by tensor's BenchmarkPackWeight).
	if _, err := m.Encode(ctx, mel); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		enc, err := m.Encode(ctx, mel)
		if err != nil {
			b.Fatal(err)
		}
		tensor.Release(enc) // as Transcribe does before the next window
	}
}

// BenchmarkEncoderWeights encodes one 30-second window at whisper-base
// size with float32 and int8 (WeightQ8) linear weights, reporting wall and
// CPU milliseconds per window.
func BenchmarkEncoderWeights(b *testing.B) {
	m32 := baseModel(b)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		m    *Model
	}{{"f32", m32}, {"q8", randomModelAs(b, m32.Config, tensor.WeightQ8)}} {
		mel := tensor.New(c.m.Config.NumMelBins, c.m.Config.NumFrames())
		if _, err := c.m.Encode(ctx, mel); err != nil { // packs the weights
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			c0 := processCPU()
			for i := 0; i < b.N; i++ {
				enc, err := c.m.Encode(ctx, mel)
				if err != nil {
					b.Fatal(err)
				}
				tensor.Release(enc)
			}
			b.ReportMetric(float64((processCPU()-c0).Microseconds())/1e3/float64(b.N), "cpu-ms/window")
		})
	}
}

// BenchmarkDecoderToken measures the time per generated token (decoder
// layers and the vocabulary projection) over a 4-token prompt and 60 more
// tokens, with the KV cache and, to show what it saves, without it;
// kvcache-f16 is kvcache with the weights packed F16 (WithWeightType, or an
// F16 checkpoint), kvcache-f16-f16kv also with the cross-attention keys and
// values in F16 (WithKVType), kvcache-f16-f16kv-self with the
// self-attention caches F16 too (nn.WithSelfKVType); kvcache-q8 and
// kvcache-q8-f16kv are the same with int8 weights
// (WithWeightType(tensor.WeightQ8)). cpu-ms/token is the
// process's CPU time per token (all threads), which other load on a shared
// machine does not dilute.
func BenchmarkDecoderToken(b *testing.B) {
	m32 := baseModel(b)
	cfg := m32.Config
	m16 := randomModelAs(b, cfg, tensor.WeightF16)
	m16kv := randomModelAs(b, cfg, tensor.WeightF16)
	nn.LoadOptions{KVType: tensor.WeightF16}.ApplyKV(m16kv.decBlocks)
	m16kvs := randomModelAs(b, cfg, tensor.WeightF16)
	nn.LoadOptions{KVType: tensor.WeightF16, SelfKVType: tensor.WeightF16}.ApplyKV(m16kvs.decBlocks)
	m8 := randomModelAs(b, cfg, tensor.WeightQ8)
	m8kv := randomModelAs(b, cfg, tensor.WeightQ8)
	nn.LoadOptions{KVType: tensor.WeightF16}.ApplyKV(m8kv.decBlocks)
	enc := tensor.New(1, cfg.MaxSourcePositions, cfg.DModel)
	const steps = 60
	for _, c := range []struct {
		name    string
		m       *Model
		noCache bool
	}{{"kvcache", m32, false}, {"nocache", m32, true}, {"kvcache-f16", m16, false}, {"kvcache-f16-f16kv", m16kv, false},
		{"kvcache-f16-f16kv-self", m16kvs, false},
		{"kvcache-q8", m8, false}, {"kvcache-q8-f16kv", m8kv, false}} {
		m, noCache := c.m, c.noCache
		m.proj.Pack() // the vocabulary projection; the layers pack in the untimed prompt pass
		b.Run(c.name, func(b *testing.B) {
			feed := [][]int{{0}}
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dec, h := startDecoder(b, m, enc, noCache)
				b.StartTimer()
				c0 := processCPU()
				for s := 0; s < steps; s++ {
					h = greedyStep(b, dec, h, feed)
				}
				tensor.Release(h)
				cpu += processCPU() - c0
				b.StopTimer()
				dec.Release() // as Transcribe does after each window
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*steps), "ms/token")
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N*steps), "cpu-ms/token")
		})
	}
}
