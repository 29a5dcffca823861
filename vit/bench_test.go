package vit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

var (
	baseOnce  sync.Once
	baseModel *Model
	baseErr   error
)

// vitBase builds google/vit-base-patch16-224 (configs/vit-base-patch16-224)
// with random weights, once per test binary.
func vitBase(b *testing.B) *Model {
	path := testdata.Path(b, "configs", "vit-base-patch16-224", "config.json")
	baseOnce.Do(func() {
		cfg, err := LoadConfig(path)
		if err != nil {
			baseErr = err
			return
		}
		baseModel, baseErr = New(cfg, randomStore(weightShapes(cfg, len(cfg.ID2Label)), 7))
	})
	if baseErr != nil {
		b.Fatal(baseErr)
	}
	return baseModel
}

// BenchmarkViTBase times Forward (embeddings, 12 layers, classifier) of
// ViT-B/16 at 224×224 on random pixel values, batch 1 and 8.
func BenchmarkViTBase(b *testing.B) {
	m := vitBase(b)
	for _, bs := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch%d", bs), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(uint64(bs), 2))
			px := tensor.New(bs, 3, 224, 224)
			for i, d := 0, px.Data(); i < len(d); i++ {
				d[i] = float32(rng.Float64()*2 - 1)
			}
			ctx := context.Background()
			// One untimed pass packs the weights (a one-time load cost,
			// measured by tensor's BenchmarkPackWeight).
			if _, err := m.Forward(ctx, px, Options{}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				out, err := m.Forward(ctx, px, Options{})
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			// CPU time per op tells the work apart from waiting on a
			// machine shared with other jobs.
			b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(b.N*bs)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
