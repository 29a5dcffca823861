// Command transcribe writes the transcript of an audio file (WAV, FLAC, MP3,
// Ogg Vorbis) with Whisper, as SubRip subtitles or plain text.
//
//	go run ./examples/transcribe -model openai/whisper-base -srt talk.flac
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/goformer/goformer/hub"
	"github.com/goformer/goformer/whisper"
)

func main() {
	modelID := flag.String("model", "openai/whisper-base", "Hub id or local model directory")
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

	dir, err := hub.Resolve(ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	model, err := whisper.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	// The zero Options are OpenAI's transcribe() defaults.
	opt := whisper.Options{Language: *language}
	if *translate {
		opt.Task = "translate"
	}
	if *greedy {
		opt.Temperatures = []float64{0}
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := model.TranscribeReader(ctx, f, opt)
	if err != nil {
		log.Fatalf("%s: %v", flag.Arg(0), err)
	}
	if *srt {
		if err := whisper.WriteSRT(os.Stdout, res); err != nil {
			log.Fatal(err)
		}
		return
	}
	fmt.Printf("[%s] %s\n", res.Language, res.Text)
}
