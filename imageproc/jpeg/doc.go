// Package jpeg is a pure-Go JPEG decoder whose RGB output is byte-identical
// to PIL.Image.open(f).convert("RGB") with Pillow on libjpeg-turbo (checked
// against Debian's python3-pil 9.4 with libjpeg-turbo 2.1.5).
//
// # Exactness
//
// The decoder follows libjpeg-turbo's decompression path with Pillow's
// settings (islow IDCT, fancy upsampling, block smoothing on) step by step:
//
//   - Huffman decoding of baseline, extended-sequential and progressive
//     scans, interleaved or not, with restart intervals; the standard
//     tables stand in for missing ones in sequential files, as in
//     libjpeg-turbo (Motion-JPEG frames).
//   - Quantization tables are latched when a component's first scan
//     starts; dequantization uses 16-bit multipliers as SIMD builds do.
//   - The integer "islow" inverse DCT of jidctint.c with its fixed-point
//     constants, rounding and range-limit table.
//   - Interblock smoothing of progressive files whose low-frequency AC
//     coefficients are incomplete (decompress_smooth_data).
//   - Upsampling as jdsample.c selects it: h2v1 and h2v2 triangle filters
//     (box when the component is at most two samples wide), the h1v2
//     triangle filter of libjpeg-turbo 2.1, box replication for other
//     integral ratios (4:1:1, 4:1:0, ...); never merged upsampling.
//   - YCbCr to RGB with jdcolor.c's 16-bit fixed-point tables. Color space
//     is guessed as libjpeg does (JFIF, Adobe transform flag, component
//     ids). Adobe CMYK and YCCK files come out as Pillow's convert("RGB")
//     makes them: libjpeg's CMYK (after its YCCK conversion), inverted
//     (Pillow always assumes Adobe's inverted CMYK), then
//     R = 255-K - C*(255-K)/255 with Pillow's rounding.
//
// Grayscale files decode to *image.Gray (convert("RGB") gives R=G=B=Y);
// everything else to an opaque *image.RGBA.
//
// Damaged data is handled as libjpeg recovers from it, since Pillow
// accepts whatever libjpeg only warns about: bytes before a marker are
// skipped, an entropy-coded segment that ends early is completed with zero
// bits and then zero (gray) blocks, an invalid Huffman code decodes as 0,
// restart markers are resynchronized by jpeg_resync_to_restart's rules.
// DecodeOptions.Strict turns all of these into ErrCorrupt instead. Data
// that ends before libjpeg has what it needs gives ErrTruncated, as
// Pillow's "image file is truncated"; to decide that exactly at the very
// end of a file without its EOI marker, the decoder replays the buffer
// refills of libjpeg-turbo under Pillow (64 KiB reads, the fast Huffman
// path only with 512 bytes per block buffered).
//
// One known difference remains: libjpeg-turbo's SIMD inverse DCT works in
// 16-bit lanes and saturates where jidctint.c wraps, so coefficients far
// outside anything an encoder produces from 8-bit samples (crafted files)
// may decode differently. Real images never reach those values.
//
// # What is refused
//
// Arithmetic coding (which libjpeg-turbo would decode), lossless and
// hierarchical processes, 12- and 16-bit samples, component counts other
// than 1, 3 and 4 (Pillow reads no others), and non-integral sampling
// ratios (libjpeg refuses them too) give ErrUnsupported. A file must start
// with FF D8 FF (ErrFormat otherwise), as Pillow requires.
//
// # Limits
//
// The declared size is checked against DecodeOptions.MaxPixels from the
// frame header, before anything is allocated (ErrTooLarge). Memory is then
// proportional to the pixel count: the component planes, the coefficient
// arrays of multi-scan files (two bytes per sample) and the output. Work is
// linear in the input size plus the pixel count: scans may revisit the
// coefficients at most 20 times in all (far above what any encoder
// emits), which defuses progressive "scan bombs", and at most 10000 scans
// are read. Decode never panics on any input.
//
// Nothing is registered with image.RegisterFormat; call Decode directly.
package jpeg
