// Package jpeg is a pure-Go JPEG decoder whose RGB output is byte-identical
// to PIL.Image.open(f).convert("RGB") with Pillow on libjpeg-turbo. It was
// checked against Debian 12's python3-pil 9.4 with libjpeg-turbo 2.1.5 on
// amd64: on the corpus in testdata, and during development on thousands of
// randomly encoded, truncated and corrupted files.
//
// Decode and DecodeBytes return an *image.Gray for a grayscale file (Pillow
// mode "L"; convert("RGB") repeats the value in R, G and B) and an opaque
// *image.RGBA for everything else, including CMYK and YCCK files. The EXIF
// orientation is reported in Metadata and never applied: like
// PIL.Image.open, the pixels are as stored.
//
// # Exactness
//
// The decoder follows libjpeg-turbo's decompression with Pillow's settings
// (islow IDCT, fancy upsampling, block smoothing) step by step:
//
//   - Huffman decoding of baseline, extended-sequential (SOF1, 16-bit
//     quantization tables) and progressive scans, interleaved or not, with
//     restart intervals. Sequential files without Huffman tables get the
//     standard ones, as in libjpeg-turbo (Motion-JPEG frames).
//   - Quantization tables are latched when a component's first scan
//     starts, so later DQT segments do not affect it.
//   - The integer "islow" inverse DCT of jidctint.c, with the arithmetic of
//     libjpeg-turbo's x86-64 SIMD code (SSE2 and AVX2 agree), which is what
//     Pillow runs on amd64: 16-bit dequantization and saturation between
//     the passes. For coefficients that real 8-bit images produce this is
//     exactly jidctint.c; only crafted or damaged data, whose coefficients
//     leave 16 bits, decodes as the SIMD code does rather than as the C
//     code (which ARM and non-SIMD builds of libjpeg-turbo would use).
//   - Interblock smoothing of progressive files whose first AC coefficients
//     are incomplete (a progression that stops early), as libjpeg's
//     decompress_smooth_data.
//   - Upsampling as jdsample.c selects it with fancy upsampling on: the h2v1
//     and h2v2 triangle filters (box replication for components at most
//     two samples wide), libjpeg-turbo 2.1's h1v2 triangle filter, box
//     replication for every other integral ratio (4:1:1, 4:1:0, 3:1, ...);
//     never merged upsampling.
//   - YCbCr to RGB with jdcolor.c's 16-bit fixed-point tables, the color
//     space guessed as libjpeg guesses it (JFIF marker, Adobe transform
//     flag, component ids). CMYK and YCCK files come out as Pillow's
//     convert("RGB") makes them: libjpeg's CMYK (after its YCCK
//     conversion) inverted, as Pillow always assumes Adobe's convention,
//     then R = 255-K - C*(255-K)/255 with Pillow's rounding.
//
// Damaged data is decoded as libjpeg recovers from it, since Pillow accepts
// whatever libjpeg only warns about: bytes before a marker are skipped, an
// entropy-coded segment that ends early is completed with zero bits and
// zero (gray) blocks, an invalid Huffman code decodes as zero, and restart
// markers are resynchronized by jpeg_resync_to_restart's rules.
// DecodeOptions.Strict turns each of these into ErrCorrupt instead.
//
// Data that ends before libjpeg has what it needs gives ErrTruncated, where
// Pillow raises "image file is truncated". Whether libjpeg runs out of data
// at the very end of a sequential file that lacks its EOI marker depends on
// how far its bit buffer has read ahead, which depends on whether its fast
// Huffman path ran, which depends on how much data Pillow had handed it;
// and on corrupt data an aborted fast pass leaves coefficients behind. So
// the decoder replays Pillow's 64 KiB reads and libjpeg-turbo's choice of
// path for every MCU, and fails (or decodes) exactly when Pillow does.
// Progressive and other multi-scan files need their EOI, as in Pillow.
//
// Header checks done by Pillow's own parser before libjpeg sees the file
// are reproduced too: the file must start with FF D8 FF (ErrFormat), a
// marker FF01 before the first scan and JFIF or Adobe segments too short
// for Pillow to read are refused (ErrCorrupt).
//
// # What is refused
//
// ErrUnsupported: arithmetic coding (which libjpeg-turbo would decode),
// lossless and hierarchical processes, sample precisions other than 8 bits,
// component counts other than 1, 3 and 4 (Pillow reads no others), and
// non-integral sampling ratios (libjpeg refuses them too).
//
// # Limits
//
// The declared size is checked against DecodeOptions.MaxPixels (by default
// Pillow's MAX_IMAGE_PIXELS) from the frame header, before anything is
// allocated (ErrTooLarge). Memory is then proportional to the pixel count:
// the output (4 bytes per pixel, 1 for grayscale) plus, for single-scan
// files, a few rows of samples (they are upsampled and converted while
// decoding, as libjpeg does), or for progressive and other multi-scan
// files the whole-image coefficient arrays and sample planes, at most
// about 13 bytes per pixel in all (progressive 4:4:4). Work is linear in the input size plus the pixel
// count: the scans of a file may visit the coefficients 20 times in all
// (far above what any encoder emits; a progression refining every
// coefficient bit by bit needs 14), which defuses progressive "scan bombs",
// and at most 10000 scans are read. Decode does not panic on any input;
// FuzzDecode checks this.
//
// The decoder registers nothing with image.RegisterFormat; call Decode or
// DecodeBytes directly. Decoding is safe for concurrent use.
package jpeg
