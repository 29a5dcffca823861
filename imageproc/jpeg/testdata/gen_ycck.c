/* gen_ycck: encode a binary PPM (P6) as an Adobe YCCK JPEG with libjpeg,
 * deriving CMYK from RGB (C=255-R, M=255-G, Y=255-B, K=0 then pulling the
 * common part into K) and storing it inverted, as Adobe applications do.
 * Used only by make_corpus.sh; not built by the Go tool.
 * Usage: gen_ycck in.ppm out.jpg quality {ycck|cmyk} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  FILE *in = fopen(argv[1], "rb");
  int w, h, maxv;
  if (!in || fscanf(in, "P6 %d %d %d", &w, &h, &maxv) != 3 || maxv != 255) return 3;
  fgetc(in);
  unsigned char *rgb = malloc((size_t)w * h * 3);
  if (fread(rgb, 3, (size_t)w * h, in) != (size_t)w * h) return 4;
  fclose(in);
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  FILE *out = fopen(argv[2], "wb");
  jpeg_stdio_dest(&c, out);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, strcmp(argv[4], "ycck") == 0 ? JCS_YCCK : JCS_CMYK);
  jpeg_set_quality(&c, atoi(argv[3]), TRUE);
  jpeg_start_compress(&c, TRUE);
  unsigned char *row = malloc((size_t)w * 4);
  while (c.next_scanline < c.image_height) {
    unsigned char *p = rgb + (size_t)c.next_scanline * w * 3;
    for (int x = 0; x < w; x++) {
      int cc = 255 - p[3 * x], m = 255 - p[3 * x + 1], y = 255 - p[3 * x + 2];
      int k = cc < m ? cc : m;
      k = k < y ? k : y;
      k = k / 2;
      /* Adobe's inverted convention: 255 means no ink. */
      row[4 * x] = 255 - (cc - k);
      row[4 * x + 1] = 255 - (m - k);
      row[4 * x + 2] = 255 - (y - k);
      row[4 * x + 3] = 255 - k;
    }
    JSAMPROW rp = row;
    jpeg_write_scanlines(&c, &rp, 1);
  }
  jpeg_finish_compress(&c);
  fclose(out);
  return 0;
}
