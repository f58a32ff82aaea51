/* preview.js: the live preview of a stream in a <video>, through HTTP-FLV
 * played by mpegts.js (Media Source Extensions).
 *
 * createPreview(video, note) owns one mpegts.js player at a time: start()
 * makes it (after previewSupport() in format.js said the browser can play
 * the codecs), stop() destroys it. Nothing here throws or logs to the
 * console: mpegts.js's own logging is turned off, and its errors, the
 * <video>'s errors and a refused autoplay end up as text in `note`.
 * The preview is itself a player of the stream (an http-flv session).
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

export function createPreview(videoEl, noteEl) {
    let player = null;
    let url = null;

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
        if (!player)
            return;
        const p = player;
        player = null;
        try {
            p.pause();
            p.unload();
            p.detachMediaElement();
            p.destroy();
        } catch (e) {
            /* already torn down */
        }
    }

    /** Starts playing flvUrl; support is canPreview()'s {ok, hasVideo, hasAudio}. */
    function start(flvUrl, support) {
        stop();
        url = flvUrl;
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
            player.load();
            say('');
            const mine = player;
            const p = player.play();
            if (p && typeof p.catch === 'function')
                p.catch(() => {
                    if (player === mine)
                        say('press play to start the preview');
                });
        } catch (e) {
            stop();
            say('preview not available: ' + (e && e.message ? e.message : String(e)));
        }
    }

    return {
        start,
        stop,
        say,
        get playing() {
            return player !== null;
        },
    };
}
