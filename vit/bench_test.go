package vit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

var (
	baseOnce  sync.Once
	baseModel *Model
	baseErr   error
)

// vitBase builds google/vit-base-patch16-224 (configs/vit-base-patch16-224)
// with random weights, once per test binary, linear weights packed as
// GOFORMER_BENCH_WEIGHTS says (float32 unset).
func vitBase(b *testing.B) *Model {
	path := testdata.Path(b, "configs", "vit-base-patch16-224", "config.json")
	baseOnce.Do(func() {
		cfg, err := LoadConfig(path)
		if err != nil {
			baseErr = err
			return
		}
		st := randomStore(weightShapes(cfg, len(cfg.ID2Label)), 7)
		st.WeightType = expected.BenchWeightType(b)
		baseModel, baseErr = New(cfg, st.Root())
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
			cpu0 := testdata.ProcessCPU()
			for i := 0; i < b.N; i++ {
				out, err := m.Forward(ctx, px, Options{})
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			// CPU time per op tells the work apart from waiting on a
			// machine shared with other jobs.
			b.ReportMetric((testdata.ProcessCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(b.N*bs)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkFirstCall shows that a model is ready when New (or Load)
// returns: weights are packed there (checkpoint.Store.Prepare), not by
// the first request. Each iteration builds ViT-B/16 with random weights
// (untimed), then times its first Forward and its second, batch 1:
// first-ms/op and second-ms/op agree within noise (before issue 19 the
// first call also packed every weight). The process is warmed up first by
// one model's calls (thread helpers started, recycled buffers of these
// sizes), which is not the model's cost.
func BenchmarkFirstCall(b *testing.B) {
	path := testdata.Path(b, "configs", "vit-base-patch16-224", "config.json")
	cfg, err := LoadConfig(path)
	if err != nil {
		b.Fatal(err)
	}
	px := tensor.New(1, 3, 224, 224)
	ctx := context.Background()
	forward := func(m *Model) time.Duration {
		t0 := time.Now()
		out, err := m.Forward(ctx, px, Options{})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		out.Release()
		return d
	}
	b.StopTimer()
	var first, second time.Duration
	for i := -1; i < b.N; i++ {
		m, err := New(cfg, randomStore(weightShapes(cfg, len(cfg.ID2Label)), uint64(i+2)).Root())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		f := forward(m)
		b.StopTimer()
		s := forward(m)
		if i >= 0 { // i = -1 warms the process up
			first += f
			second += s
		}
		m.Close()
	}
	b.ReportMetric(float64(first.Microseconds())/1e3/float64(b.N), "first-ms/op")
	b.ReportMetric(float64(second.Microseconds())/1e3/float64(b.N), "second-ms/op")
}
