package integration

import (
	"testing"

	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/blip2"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/gpt2"
	"github.com/goformer/goformer/llava"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
	"github.com/goformer/goformer/wav2vec2"
	"github.com/goformer/goformer/whisper"
)

// TestFamilyOptions checks that every family's load options are the
// shared ones: each package's WithWeightType and WithDevice set the same
// nn.LoadOptions fields as nn's own.
func TestFamilyOptions(t *testing.T) {
	type with struct {
		weightType func(tensor.WeightType) nn.LoadOption
		device     func(*tensor.Device) nn.LoadOption
	}
	families := map[string]with{
		"vit":      {vit.WithWeightType, vit.WithDevice},
		"clip":     {clip.WithWeightType, clip.WithDevice},
		"whisper":  {whisper.WithWeightType, whisper.WithDevice},
		"blip":     {blip.WithWeightType, blip.WithDevice},
		"blip2":    {blip2.WithWeightType, blip2.WithDevice},
		"gpt2":     {gpt2.WithWeightType, gpt2.WithDevice},
		"wav2vec2": {wav2vec2.WithWeightType, wav2vec2.WithDevice},
		"llava":    {llava.WithWeightType, llava.WithDevice},
		"llm":      {llm.WithWeightType, llm.WithDevice},
	}
	d := tensor.NewCheckingDevice()
	for name, w := range families {
		o, err := nn.ApplyLoadOptions([]nn.LoadOption{w.weightType(tensor.WeightQ8), w.device(d)})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if o.WeightType != tensor.WeightQ8 || o.Device != d {
			t.Errorf("%s: options give weight type %v on %v, want %v on %v", name, o.WeightType, o.Device, tensor.WeightQ8, d)
		}
	}
}
