package imageproc

import "testing"

// BenchmarkPreprocess times decoding-free preprocessing of a 451×300 photo
// for the ViT (bilinear 224²) and CLIP (bicubic shortest edge + crop)
// processors.
func BenchmarkPreprocess(b *testing.B) {
	img := loadImageFile(b, "chelsea.png")
	for _, typ := range []string{ViTImageProcessorType, CLIPImageProcessorType, BlipImageProcessorType} {
		p, err := NewProcessor(DefaultProcessorConfig(typ))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(typ, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := p.Preprocess(img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
