// Package imageproc decodes images and turns them into the pixel_values
// tensors goformer's vision models take (ViT, CLIP, BLIP, BLIP-2, ViT-GPT2,
// LLaVA),
// reproducing transformers' image processors, which resample with Pillow.
//
// # Decoding
//
// Decode (and DecodeOptions.Decode) reads JPEG, PNG, GIF (first frame,
// drawn on the logical screen as Pillow does), BMP and WebP. A JPEG's EXIF
// orientation is applied, as transformers' load_image does with PIL's
// ImageOps.exif_transpose, unless DecodeOptions.IgnoreOrientation is set.
// Pixels come back in the decoder's own color model; the processor converts
// them.
//
// Memory is bounded before any pixel is decoded: at most
// DecodeOptions.MaxBytes of encoded input are read (DefaultMaxBytes,
// 256 MiB), and the width×height declared in the header must not exceed
// DecodeOptions.MaxPixels (DefaultMaxPixels, Pillow's decompression-bomb
// threshold of about 89.5 million pixels), so that a small file declaring a
// huge image is refused with ErrImageTooLarge instead of being allocated.
// Data in no supported format gives ErrUnsupportedImage; corrupt or
// truncated data gives ErrInvalidImage wrapping the decoder's error; a
// panic in a decoder on hostile input is turned into ErrInvalidImage. All
// three match task.ErrInput.
//
// # Preprocessing
//
// A Processor is built from a preprocessor_config.json (LoadProcessor,
// ParseProcessorConfig, NewProcessor; fields a file leaves out take the
// defaults of its class: ViTImageProcessor, CLIPImageProcessor,
// BlipImageProcessor and their older *FeatureExtractor names). Preprocess
// and PreprocessBatch run transformers' steps on any image.Image:
//
//   - conversion to 8-bit RGB with the rules of PIL's convert("RGB")
//     (gray replicated, 16-bit gray clipped, palette colors, alpha dropped
//     without compositing, Pillow's CMYK formula, and JPEG chroma upsampled
//     and converted as libjpeg does for PIL);
//   - resizing to an exact size, or the shortest edge (with an optional
//     longest-edge cap) with transformers' rounding of the other side;
//   - center cropping with transformers' offsets, padding with zeros where
//     the image is smaller than the crop;
//   - rescaling (in float64, then cast to float32, as numpy does) and
//     normalization with the config's mean and standard deviation.
//
// "Pillow-exact" means the resize is Pillow's own algorithm, not an
// approximation of it: the same filters (nearest, box, bilinear, Hamming,
// bicubic with a = -0.5, Lanczos-3), the same support scaled by the
// downsampling factor, the same coefficients normalized and quantized to
// 22-bit fixed point, a horizontal pass then a vertical pass, each rounded
// and clipped to uint8 as Pillow's 8-bit resampler does. On the reference
// fixtures (PNG inputs) the pixel values are therefore bit-identical to
// those transformers computes (max |Δ| = 0). JPEG files are decoded by
// package imageproc/jpeg, whose RGB output is byte-identical to Pillow's on
// libjpeg-turbo (its islow IDCT, fancy upsampling and color conversion), so
// JPEG input gives transformers' pixel values too (TestParity_jpeg, where
// Go's image/jpeg would be off by up to 0.057). One source of difference
// remains in decoding: lossy WebP colors are those of Go's decoder, a few
// levels from libwebp's.
//
// Preprocessing is bounded too: the RGB copy and every resize target are
// limited to 2³¹/3 pixels (ErrImageTooLarge, e.g. for an extreme aspect
// ratio whose shortest-edge resize would be enormous), and configured sizes
// to 32768 pixels a side (ErrProcessorConfig). A malformed image.Image
// value (pixel slices shorter than its bounds) gives ErrUnsupportedImage
// rather than a panic.
//
// Processors are immutable and safe for concurrent use; PreprocessBatch
// processes its images in parallel.
package imageproc
