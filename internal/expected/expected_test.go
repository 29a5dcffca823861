package expected

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

func TestReadAndInt64s(t *testing.T) {
	data := make([]byte, 0, 6*4+2*8)
	for _, v := range []float32{1, 2, 3, 4, 5, 6} {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	for _, v := range []int64{-7, 9} {
		data = binary.LittleEndian.AppendUint64(data, uint64(v))
	}
	path := testdata.WriteSafetensors(t, map[string]any{
		"x":   map[string]any{"dtype": "F32", "shape": []int{2, 3}, "data_offsets": []int{0, 24}},
		"ids": map[string]any{"dtype": "I64", "shape": []int{2}, "data_offsets": []int{24, 40}},
	}, data)
	x := Read(t, path, "x")
	if !slices.Equal(x.Shape(), []int{2, 3}) || !slices.Equal(x.Data(), []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("Read = %v %v", x.Shape(), x.Data())
	}
	if !Has(t, path, "ids") || Has(t, path, "none") {
		t.Errorf("Has: ids %v, none %v", Has(t, path, "ids"), Has(t, path, "none"))
	}
	ids, shape := Int64s(t, path, "ids")
	if !slices.Equal(ids, []int64{-7, 9}) || !slices.Equal(shape, []int{2}) {
		t.Errorf("Int64s = %v %v", ids, shape)
	}
}
