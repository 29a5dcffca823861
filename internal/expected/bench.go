package expected

import (
	"os"
	"strings"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// BenchWeightType is the weight type the model benchmarks pack linear
// layers as: GOFORMER_BENCH_WEIGHTS names it as tensor.WeightType's String
// does ("F32", "F16", "BF16", "Q8", "BF16Dot", any case); unset, float32.
// Side-by-side runs time every mode with the same benchmark binaries this
// way. An unknown name fails the benchmark.
func BenchWeightType(tb testing.TB) tensor.WeightType {
	name := os.Getenv("GOFORMER_BENCH_WEIGHTS")
	if name == "" {
		return tensor.WeightF32
	}
	for _, t := range []tensor.WeightType{tensor.WeightF32, tensor.WeightF16, tensor.WeightBF16, tensor.WeightQ8, tensor.WeightBF16Dot} {
		if strings.EqualFold(name, t.String()) {
			return t
		}
	}
	tb.Fatalf("GOFORMER_BENCH_WEIGHTS=%s: want F32, F16, BF16, Q8 or BF16Dot", name)
	return tensor.WeightF32
}
