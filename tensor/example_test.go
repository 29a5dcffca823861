package tensor_test

import (
	"fmt"

	"github.com/goformer/goformer/tensor"
)

// A loop that releases what it no longer needs reuses the same memory on
// every pass instead of allocating.
func ExampleRelease() {
	x := tensor.MustFromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	for range 3 {
		y := tensor.Softmax(x) // a new tensor, from recycled storage when available
		fmt.Printf("%.3f\n", y.At(1, 2))
		tensor.Release(y) // y must not be used from here on
	}
	// Output:
	// 0.665
	// 0.665
	// 0.665
}

func ExampleLogSumExp() {
	row := []float32{1, 2, 3}
	lse := tensor.LogSumExp(row)
	fmt.Printf("log Σ exp = %.4f, log-softmax of the last = %.4f\n", lse, row[2]-lse)
	// Output: log Σ exp = 3.4076, log-softmax of the last = -0.4076
}

func ExamplePosition() {
	// Two sequences of three positions with two features each.
	h := tensor.MustFromData([]float32{
		1, 2, 3, 4, 5, 6,
		7, 8, 9, 10, 11, 12,
	}, 2, 3, 2)
	last, _ := tensor.Position(h, 2)
	fmt.Println(last.Shape(), last.Data())
	// Output: [2 2] [5 6 11 12]
}
