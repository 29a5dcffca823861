// Command transcribe writes the transcript of an audio file (WAV, FLAC, MP3,
// Ogg Vorbis) with any speech model (Whisper, wav2vec2), as SubRip subtitles
// or plain text.
//
//	go run ./examples/transcribe -model openai/whisper-base -srt talk.flac
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/transcript"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskTranscribe), "Hub id or local model directory")
	language := flag.String("language", "", `spoken language ("en"); empty: detect it`)
	translate := flag.Bool("translate", false, "translate to English")
	srt := flag.Bool("srt", false, "write SubRip subtitles instead of text")
	greedy := flag.Bool("greedy", false, "decode at temperature 0 only (no temperature fallback)")
	flag.Parse()
	log.SetFlags(0)
	if flag.NArg() != 1 {
		log.Fatal("usage: transcribe [-model ID] [-language CODE] [-translate] [-srt] AUDIO")
	}
	ctx := context.Background()

	t, model, err := goformer.LoadAs[goformer.Transcriber](ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	// The zero options are the reference implementation's defaults.
	opt := goformer.TranscribeOptions{Language: *language}
	if *translate {
		opt.Task = goformer.TaskTranslate
	}
	if *greedy {
		opt.Temperatures = []float64{0}
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := goformer.TranscribeReader(ctx, t, f, opt)
	if err != nil {
		log.Fatalf("%s: %v", flag.Arg(0), err)
	}
	if *srt {
		if err := transcript.WriteSRT(os.Stdout, res); err != nil {
			log.Fatal(err)
		}
		return
	}
	fmt.Printf("[%s] %s\n", res.Language, res.Text)
}
