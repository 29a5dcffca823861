package blip

import (
	"context"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// BenchmarkCaptionLarge captions one image with a model of
// blip-image-captioning-large's size and random weights: the vision encoder
// and a 20-token caption (ns/op), reporting the vision encoder's share
// (vision-ms), the decoder's start (prefill-ms: the cross-attention keys
// and values of the 577 image tokens in every layer, and the first token)
// and the marginal cost of each further token (ms/token), the last two
// from separate untimed runs. [SEP] is banned so that every run decodes all
// 20 tokens. One untimed caption first packs the weights (a one-time load
// cost, measured by tensor's BenchmarkPackWeight).
//
//	go test ./blip -run '^$' -bench CaptionLarge -benchtime 2x
func BenchmarkCaptionLarge(b *testing.B) {
	cfg, err := LoadConfig(testdata.Path(b, "configs", "blip-image-captioning-large", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cfg, randomStore(cfg, TaskCaptioning, 1).Root())
	if err != nil {
		b.Fatal(err)
	}
	v := cfg.Vision
	px := tensor.New(1, v.NumChannels, v.ImageSize, v.ImageSize)
	for i, d := 0, px.Data(); i < len(d); i++ {
		d[i] = float32(i%251)/125 - 1
	}
	ctx := context.Background()
	const tokens = 20
	caption := func() (vision, gen time.Duration) {
		t0 := time.Now()
		embeds, err := m.EncodeImages(ctx, px)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		ids, err := m.GenerateIDs(ctx, embeds, nil, Options{MaxNewTokens: tokens, MinNewTokens: tokens})
		if err != nil {
			b.Fatal(err)
		}
		if len(ids[0]) != 1+tokens {
			b.Fatalf("%d ids, want %d", len(ids[0]), 1+tokens)
		}
		return t1.Sub(t0), time.Since(t1)
	}
	caption() // packs the weights
	var vision, gen time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, g := caption()
		vision += v
		gen += g
	}
	b.StopTimer()
	// The decoder's start alone: one token.
	embeds, err := m.EncodeImages(ctx, px)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if _, err := m.GenerateIDs(ctx, embeds, nil, Options{MaxNewTokens: 1, MinNewTokens: 1}); err != nil {
		b.Fatal(err)
	}
	prefill := time.Since(t0)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(vision)/float64(b.N), "vision-ms")
	b.ReportMetric(ms(prefill), "prefill-ms")
	b.ReportMetric((ms(gen)/float64(b.N)-ms(prefill))/(tokens-1), "ms/token")
}
