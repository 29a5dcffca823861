package wav2vec2_test

import (
	"context"
	"fmt"
	"log"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/wav2vec2"
)

// Transcribe a long recording in chunks of 20 s overlapping by 4 s on each
// side (transformers' chunk_length_s=20, stride_length_s=4). The zero
// Options already chunk audio longer than 30 s (30 s chunks, 5 s strides).
func ExampleOptions_chunks() {
	m, err := wav2vec2.Load("models/wav2vec2-base-960h")
	if err != nil {
		log.Fatal(err)
	}
	pcm, err := audio.Load16kFile("lecture.mp3")
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Transcribe(context.Background(), pcm, wav2vec2.Options{ChunkLength: 20, StrideLength: 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Text)
}
