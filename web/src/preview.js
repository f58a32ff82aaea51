/* preview.js: the live preview of a stream in a <video>, through HTTP-FLV
 * or WebSocket-FLV played by mpegts.js, or HLS played by hls.js (both on
 * Media Source Extensions).
 *
 * createPreview(video, note) owns one player at a time: start() makes it
 * (after previewSupport() in format.js said the browser can play the
 * codecs), stop() destroys it; the <video> carries data-via (flv, hls) while
 * one plays. hls.js is not in the bundle: the first HLS preview loads it
 * from WEIR_HLS_SRC (web/build.mjs), once. Nothing here throws or logs to
 * the console: the players' own logging is turned off, and their errors, the
 * <video>'s errors and a refused autoplay end up as text in `note`.
 * The preview is itself a player of the stream (an http-flv or, with a
 * ws:// URL, a ws-flv session; an HLS viewer). stalled() says whether the playhead has not
 * moved for STALL_MS while playing (the detail view restarts it then).
 * meter(el): for an audio-only stream, a level bar fed by an AnalyserNode
 * (the element's sound goes to the analyser only: nothing is heard).
 */
import mpegts from 'mpegts.js';
import { previewSupport } from './format.js';

try {
    mpegts.LoggingControl.applyConfig({
        enableAll: false, enableDebug: false, enableVerbose: false,
        enableInfo: false, enableWarn: false, enableError: false,
    });
} catch (e) {
    /* an mpegts.js without LoggingControl: nothing to turn off */
}

function features() {
    try {
        return mpegts.getFeatureList();
    } catch (e) {
        return null;
    }
}

function typeCheck() {
    const MS = window.MediaSource || window.ManagedMediaSource;
    if (!MS || typeof MS.isTypeSupported !== 'function')
        return null;
    return (t) => MS.isTypeSupported(t);
}

/** Whether this browser can preview a stream with these tracks ({ok, note}). */
export function canPreview(video, audio) {
    return previewSupport(video, audio, features(), typeCheck());
}

const STALL_MS = 8000;

/* global WEIR_HLS_SRC */
let hlsLoading = null; /* the promise of window.Hls, while or once loaded */

/** hls.js's Hls class, loaded by a <script> (CSP: 'self') on first use. */
function loadHls() {
    if (window.Hls)
        return Promise.resolve(window.Hls);
    if (!hlsLoading) {
        hlsLoading = new Promise((resolve, reject) => {
            const el = document.createElement('script');
            el.src = WEIR_HLS_SRC;
            el.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('hls.js did not define Hls')));
            el.onerror = () => {
                hlsLoading = null; /* tried again at the next start */
                reject(new Error('hls.js could not be loaded'));
            };
            document.head.appendChild(el);
        });
    }
    return hlsLoading;
}

export function createPreview(videoEl, noteEl) {
    let player = null;
    let url = null;
    let lastTime = -1;
    let movedAt = 0;
    let audio = null; /* {ctx, analyser, raf, bar} of the audio meter */

    function stalled() {
        if (!player)
            return false;
        const t = videoEl.currentTime || 0;
        if (t !== lastTime) {
            lastTime = t;
            movedAt = Date.now();
            return false;
        }
        return Date.now() - movedAt > STALL_MS;
    }

    function stopMeter() {
        if (!audio)
            return;
        cancelAnimationFrame(audio.raf);
        audio.bar.style.width = '0%';
        audio.running = false;
    }

    /** Shows the audio level in bar (an element whose width is set in %). */
    function meter(bar) {
        try {
            if (!audio) {
                const AC = window.AudioContext || window.webkitAudioContext;
                const actx = new AC();
                const src = actx.createMediaElementSource(videoEl);
                const analyser = actx.createAnalyser();
                analyser.fftSize = 1024;
                src.connect(analyser); /* not to actx.destination: silent */
                audio = { ctx: actx, analyser, raf: 0, bar, buf: new Float32Array(analyser.fftSize) };
                videoEl.muted = false;
            }
            audio.bar = bar;
            if (audio.ctx.state === 'suspended')
                audio.ctx.resume().catch(() => {});
            audio.running = true;
            const tick = () => {
                if (!audio.running)
                    return;
                audio.analyser.getFloatTimeDomainData(audio.buf);
                let peak = 0;
                for (const v of audio.buf)
                    peak = Math.max(peak, Math.abs(v));
                audio.bar.style.width = Math.min(100, Math.round(peak * 100)) + '%';
                audio.bar.setAttribute('data-level', String(peak));
                audio.raf = requestAnimationFrame(tick);
            };
            tick();
        } catch (e) {
            say('audio meter not available: ' + (e && e.message ? e.message : String(e)));
        }
    }

    function say(text) {
        noteEl.textContent = text;
        noteEl.hidden = !text;
    }

    function onVideoError() {
        const err = videoEl.error;
        stop();
        say('preview stopped: the browser could not decode the stream' + (err && err.message ? ' (' + err.message + ')' : ''));
    }

    function stop() {
        videoEl.removeEventListener('error', onVideoError);
        videoEl.removeAttribute('data-via');
        stopMeter();
        if (!player)
            return;
        const p = player;
        player = null;
        try {
            if (p.viaHls) {
                if (p.hls)
                    p.hls.destroy();
                return;
            }
            p.pause();
            p.unload();
            p.detachMediaElement();
            p.destroy();
        } catch (e) {
            /* already torn down */
        }
    }

    /** Plays the <video> (muted); a refused autoplay asks for a click. */
    function play(mine) {
        const p = videoEl.play();
        if (p && typeof p.catch === 'function')
            p.catch(() => {
                if (player === mine)
                    say('press play to start the preview');
            });
    }

    /** Starts playing the playlist at m3u8 with hls.js (loaded on first use). */
    function startHls(m3u8) {
        const mine = { viaHls: true, hls: null };
        player = mine;
        videoEl.setAttribute('data-via', 'hls');
        say('');
        loadHls().then((Hls) => {
            if (player !== mine)
                return; /* stopped while hls.js loaded */
            if (!Hls.isSupported()) {
                stop();
                say('preview not available: this browser cannot play HLS (no Media Source Extensions)');
                return;
            }
            mine.hls = new Hls({ enableWorker: false, debug: false, lowLatencyMode: false });
            mine.hls.on(Hls.Events.ERROR, (_ev, d) => {
                if (!d || !d.fatal || player !== mine)
                    return;
                stop();
                say('preview stopped: HLS ' + (d.details || d.type || 'error'));
            });
            videoEl.addEventListener('error', onVideoError);
            videoEl.muted = true;
            mine.hls.loadSource(m3u8);
            mine.hls.attachMedia(videoEl);
            play(mine);
        }, (e) => {
            if (player !== mine)
                return;
            stop();
            say('preview not available: ' + e.message);
        });
    }

    /**
     * Starts playing mediaUrl: an HLS playlist when via is 'hls', else an
     * HTTP-FLV or WebSocket-FLV URL; support is canPreview()'s {ok, hasVideo,
     * hasAudio}.
     */
    function start(mediaUrl, support, via) {
        stop();
        url = mediaUrl;
        lastTime = -1;
        movedAt = Date.now();
        if (via === 'hls') {
            startHls(url);
            return;
        }
        try {
            player = mpegts.createPlayer(
                { type: 'flv', isLive: true, url, hasAudio: support.hasAudio, hasVideo: support.hasVideo },
                {
                    enableWorker: false, enableStashBuffer: false, lazyLoad: false,
                    liveBufferLatencyChasing: true, autoCleanupSourceBuffer: true,
                });
            player.on(mpegts.Events.ERROR, (type, detail, info) => {
                stop();
                const why = info && info.msg ? info.msg : detail || type;
                say('preview stopped: ' + why);
            });
            videoEl.addEventListener('error', onVideoError);
            videoEl.muted = true;
            player.attachMediaElement(videoEl);
            videoEl.setAttribute('data-via', 'flv');
            player.load();
            say('');
            play(player);
        } catch (e) {
            stop();
            say('preview not available: ' + (e && e.message ? e.message : String(e)));
        }
    }

    return {
        start,
        stop,
        say,
        stalled,
        meter,
        get playing() {
            return player !== null;
        },
    };
}
