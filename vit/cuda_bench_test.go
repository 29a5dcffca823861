//go:build cuda

package vit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/goformer/goformer/cuda/cudatest"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// BenchmarkCUDA_ViTBase times the classification logits of
// google/vit-base-patch16-224 (configs/vit-base-patch16-224, random
// weights) at 224×224 on a CUDA device (cuda:0), batch 1 and 256 (issue
// 20's table): the pixel values are on the device already, each call
// brings its logits [B, 1000] back to the host (which waits for the
// work). f32 keeps the weights float32; f16 packs them F16 (widened
// exactly; WithWeightType). It skips where no device opens, unless
// GOFORMER_REQUIRE_CUDA=1.
func BenchmarkCUDA_ViTBase(b *testing.B) {
	d := cudatest.Open(b)
	cfg, err := LoadConfig(testdata.Path(b, "configs", "vit-base-patch16-224", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, wt := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16} {
		st := randomStore(weightShapes(cfg, len(cfg.ID2Label)), 7)
		st.Device, st.WeightType = d, wt
		m, err := New(cfg, st.Root())
		if err != nil {
			b.Fatal(err)
		}
		for _, bs := range []int{1, 256} {
			b.Run(fmt.Sprintf("%v/batch%d", wt, bs), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(uint64(bs), 2))
				px := tensor.New(bs, 3, cfg.ImageSize, cfg.ImageSize)
				for i, v := 0, px.Data(); i < len(v); i++ {
					v[i] = float32(rng.Float64()*2 - 1)
				}
				dpx, err := d.Upload(px)
				if err != nil {
					b.Fatal(err)
				}
				defer tensor.Release(dpx)
				run := func() {
					l, err := m.Logits(ctx, dpx)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := tensor.HostData(l); err != nil {
						b.Fatal(err)
					}
					tensor.Release(l)
				}
				testdata.TimeCalls(b, "batch", run)
				b.ReportMetric(float64(b.N*bs)/b.Elapsed().Seconds(), "images/s")
			})
		}
		m.Close()
		st.Close()
	}
}
