package blip

import (
	"context"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// BenchmarkCaptionLarge captions one image with a model of
// blip-image-captioning-large's size and random weights, reporting the
// vision encoder's time (vision-ms), the decoder's start (prefill-ms: the
// cross-attention keys and values of the 577 image tokens in every layer,
// and the first token) and the marginal cost of each further token of a
// 20-token caption (ms/token). [SEP] is banned so that every run decodes
// all 20 tokens.
//
//	go test ./blip -run '^$' -bench CaptionLarge -benchtime 1x
func BenchmarkCaptionLarge(b *testing.B) {
	cfg, err := LoadConfig(testdata.Path(b, "configs", "blip-image-captioning-large", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cfg, randomStore(cfg, TaskCaptioning, 1))
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
	var vision, prefill, decode time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		embeds, err := m.EncodeImages(ctx, px)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := m.GenerateIDs(ctx, embeds, nil, Options{MaxNewTokens: 1, MinNewTokens: 1}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		ids, err := m.GenerateIDs(ctx, embeds, nil, Options{MaxNewTokens: tokens, MinNewTokens: tokens})
		if err != nil {
			b.Fatal(err)
		}
		if len(ids[0]) != 1+tokens {
			b.Fatalf("%d ids, want %d", len(ids[0]), 1+tokens)
		}
		vision += t1.Sub(t0)
		prefill += t2.Sub(t1)
		decode += time.Since(t2) - t2.Sub(t1)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(vision), "vision-ms")
	b.ReportMetric(ms(prefill), "prefill-ms")
	b.ReportMetric(ms(decode)/(tokens-1), "ms/token")
}
