package infer_test

import (
	"context"
	"log"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/goformer/goformer"
	"github.com/goformer/goformer/beam/infer"
)

// A pipeline that transcribes every FLAC file of a bucket with subtitles,
// and embeds a folder of photos into a sharded index. beam.Init must come
// first in main: the runner's workers run the same binary.
func Example() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()

	audio := infer.Files(s, "gs://my-bucket/audio/*.flac")
	tr := infer.Transcribe(s, audio, infer.Config{
		Model:      "openai/whisper-base",
		Transcribe: goformer.TranscribeOptions{Language: "en"},
		Subtitles:  []string{"srt", "vtt"},
		Output:     "gs://my-bucket/transcripts",
	})
	infer.WriteJSONL(s, tr.Records, "gs://my-bucket/transcripts", "results", 64)
	infer.WriteJSONL(s, tr.DeadLetter, "gs://my-bucket/transcripts", "deadletter", 1)

	photos := infer.Files(s, "/data/photos/*.jpg")
	em := infer.EmbedImages(s, photos, infer.Config{Model: "openai/clip-vit-base-patch32", BatchSize: 16})
	infer.WriteIndex(s, em.Records, "/data/index", 8)
	infer.WriteJSONL(s, em.DeadLetter, "/data/index", "deadletter", 1)

	if err := beamx.Run(context.Background(), p); err != nil {
		log.Fatal(err)
	}
}
