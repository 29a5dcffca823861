package vit

import (
	"fmt"
	"image"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/tensor"
)

// PixelValues preprocesses images with p as one batch, for the families
// built on the ViT tower: an empty batch or a nil image is an error
// wrapping errInput (the family's input sentinel); an error of p is
// returned wrapped, its message after prefix ("blip: ", or "").
func PixelValues(p *imageproc.Processor, images []image.Image, errInput error, prefix string) (*tensor.Tensor, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("%w: no images", errInput)
	}
	for i, img := range images {
		if img == nil {
			return nil, fmt.Errorf("%w: image %d is nil", errInput, i)
		}
	}
	px, err := p.PreprocessBatch(images)
	if err != nil {
		return nil, fmt.Errorf("%s%w", prefix, err)
	}
	return px, nil
}
