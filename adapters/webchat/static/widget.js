/*
 * inbox-gateway web chat widget. No build step, no dependencies.
 *
 *   <script src="https://gateway.example/channels/<id>/widget.js" data-title="Chat with us"
 *           data-color="#2563eb" async></script>
 *
 * Optional API, once the script has loaded:
 *   InboxGateway.identify({userId, name, email, phone, signature})  // signed by the site's server
 *   InboxGateway.reset()   // the site's user logged out: forget the visitor on this browser
 *   InboxGateway.open() / .close() / .toggle()
 * Or set window.InboxGatewaySettings = {identity: {...}} before the script tag.
 *
 * Everything a person wrote is put on the page with textContent and DOM APIs only; URLs are
 * used only when they are http(s).
 */
(function () {
  "use strict";

  var SETTINGS = /*IG_CONFIG*/{};

  if (window.InboxGateway && window.InboxGateway.version) return; // loaded twice

  var script =
    document.currentScript ||
    (function () {
      var all = document.querySelectorAll('script[src*="widget.js"]');
      return all[all.length - 1];
    })();
  if (!script || !script.src) return;

  var BASE = new URL(".", script.src).href; // …/channels/<id>/
  var WS_BASE = BASE.replace(/^http/, "ws");
  var TITLE = script.getAttribute("data-title") || SETTINGS.title || "Chat with us";
  var COLOR = script.getAttribute("data-color") || "";
  var KEY = "inboxGateway:" + BASE;
  var BUSINESS = "BUSINESS_TO_PARTICIPANT";
  var PARTICIPANT = "PARTICIPANT_TO_BUSINESS";
  // The gateway's history page size: a `history` frame this long may have more after it.
  var HISTORY_PAGE = 500;
  var SVG = "http://www.w3.org/2000/svg";

  /* ---------- storage that survives blocked localStorage ---------- */

  var memory = {};
  var store = {
    get: function (name) {
      try {
        return window.localStorage.getItem(KEY + ":" + name);
      } catch (e) {
        return Object.prototype.hasOwnProperty.call(memory, name) ? memory[name] : null;
      }
    },
    set: function (name, value) {
      memory[name] = value;
      try {
        window.localStorage.setItem(KEY + ":" + name, value);
      } catch (e) {
        /* private mode: memory only */
      }
    },
    remove: function (name) {
      delete memory[name];
      try {
        window.localStorage.removeItem(KEY + ":" + name);
      } catch (e) {
        /* ignore */
      }
    },
  };

  /* ---------- state ---------- */

  var token = store.get("token");
  var identifiedAs = store.get("user");
  var pendingIdentity = null;
  var ws = null;
  var retries = 0;
  var timer = null;
  var unavailable = false;
  var tokenRejected = false;
  // The token the gateway last refused on a socket. It is forgotten only when the next start
  // finds it still stored: another tab that just signed the visitor in stores the new token
  // meanwhile (the gateway closes this tab's anonymous socket as it signs them in), and this
  // tab then follows it rather than wiping it and opening a new, empty conversation.
  var refusedToken = null;
  var renewed = false; // whether this page has renewed the stored token yet
  var conversation = store.get("conversation"); // the conversation this page shows
  var panelOpen = false;
  var lastSequence = 0; // highest sequence shown
  // Every message up to here is shown; a live message may be past it while history pages in.
  var syncedSequence = 0;
  var lastBusinessSequence = 0;
  var readSequence = Number(store.get("read")) || 0; // highest business sequence seen open
  var sentReadSequence = 0;
  var unread = 0;
  var rendered = new Map(); // message id -> element
  var pending = new Map(); // clientMessageId -> {frame, node, failed}
  var queued = []; // interact frames waiting for a socket
  var choices = loadChoices(); // message id -> label the visitor picked

  /* ---------- small DOM helpers (text goes in as text, never as markup) ---------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "class") node.className = value;
        else if (name === "text") node.textContent = String(value);
        else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function add(parent, child) {
    if (child) parent.appendChild(child);
  }

  function icon(path) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var p = document.createElementNS(SVG, "path");
    p.setAttribute("d", path);
    svg.appendChild(p);
    return svg;
  }

  function safeUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value, BASE);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function str(value) {
    return typeof value === "string" ? value : "";
  }

  function link(url, text, className) {
    var href = safeUrl(url);
    if (!href) return el("span", { class: className, text: text || str(url) });
    return el("a", {
      class: className,
      href: href,
      target: "_blank",
      rel: "noopener noreferrer nofollow",
      text: text || href,
    });
  }

  // Plain text with http(s) links made clickable, built node by node.
  function richText(text, className) {
    var node = el("p", { class: className || "ig-text" });
    var pattern = /\bhttps?:\/\/[^\s<>"']+/gi;
    var last = 0;
    var match;
    while ((match = pattern.exec(text))) {
      var url = match[0].replace(/[.,;:!?)\]}]+$/, "");
      node.appendChild(document.createTextNode(text.slice(last, match.index)));
      node.appendChild(link(url, url));
      last = match.index + url.length;
      pattern.lastIndex = last;
    }
    node.appendChild(document.createTextNode(text.slice(last)));
    return node;
  }

  function image(img, className) {
    var src = img && safeUrl(img.url);
    if (!src) return null;
    var alt = str(img.filename) || "Image";
    return el("a", { class: "ig-image-link", href: src, target: "_blank", rel: "noopener noreferrer" }, [
      el("img", { class: className || "ig-image", src: src, alt: alt, loading: "lazy" }),
    ]);
  }

  function file(f) {
    if (!f) return null;
    var name = str(f.filename) || "Download file";
    var node = link(f.url, name, "ig-file");
    node.insertBefore(icon("M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z"), node.firstChild);
    return node;
  }

  /* ---------- content ---------- */

  function buttons(list, messageId) {
    if (!Array.isArray(list) || !list.length) return null;
    var box = el("div", { class: "ig-buttons" });
    list.forEach(function (button) {
      if (!button || typeof button !== "object") return;
      var label = str(button.label);
      var postback = button.postbackProperties && str(button.postbackProperties.interactionId);
      if (postback) {
        box.appendChild(
          el("button", {
            type: "button",
            class: "ig-button",
            "data-interaction-id": postback,
            text: label,
            onclick: function () {
              choose(messageId, postback, label);
            },
          })
        );
      } else if (button.launchUrl) {
        box.appendChild(link(button.launchUrl, label, "ig-button ig-link-button"));
      }
    });
    return box;
  }

  function basic(payload) {
    var nodes = [];
    (Array.isArray(payload.items) ? payload.items : []).forEach(function (item) {
      if (!item || typeof item !== "object") return;
      if (typeof item.text === "string") nodes.push(richText(item.text));
      else if (item.image) nodes.push(image(item.image));
      else if (item.file) nodes.push(file(item.file));
    });
    return el("div", { class: "ig-body" }, nodes);
  }

  function minimal(payload) {
    var body = el("div", { class: "ig-body ig-minimal" });
    var iconSrc = safeUrl(payload.iconUrl);
    if (iconSrc) body.appendChild(el("img", { class: "ig-icon", src: iconSrc, alt: "" }));
    body.appendChild(richText(str(payload.text)));
    if (payload.url) body.appendChild(link(payload.url, null, "ig-minimal-link"));
    return body;
  }

  function template(payload, messageId) {
    var card = el("div", {
      class: "ig-card",
      "data-orientation": payload.orientation === "LANDSCAPE" ? "LANDSCAPE" : "PORTRAIT",
    });
    if (payload.imageUrl) add(card, image({ url: payload.imageUrl }, "ig-card-image"));
    var inner = el("div", { class: "ig-card-body" });
    if (payload.title) inner.appendChild(el("h4", { class: "ig-card-title", text: str(payload.title) }));
    (Array.isArray(payload.textLines) ? payload.textLines : []).forEach(function (line) {
      inner.appendChild(richText(str(line), "ig-card-line"));
    });
    card.appendChild(inner);
    var box = buttons(payload.buttons, messageId);
    if (box) card.appendChild(box);
    return card;
  }

  function form(payload) {
    var card = el("div", { class: "ig-card ig-form" });
    var inner = el("div", { class: "ig-card-body" });
    if (payload.title) inner.appendChild(el("h4", { class: "ig-card-title", text: str(payload.title) }));
    if (payload.description) inner.appendChild(richText(str(payload.description), "ig-card-line"));
    var fields = el("dl", { class: "ig-fields" });
    (Array.isArray(payload.fields) ? payload.fields : []).forEach(function (field) {
      if (!field || typeof field !== "object") return;
      fields.appendChild(el("div", { class: "ig-field" }, [
        el("dt", { text: str(field.name) }),
        el("dd", { text: str(field.value) }),
      ]));
    });
    inner.appendChild(fields);
    (Array.isArray(payload.media) ? payload.media : []).forEach(function (media) {
      if (!media || typeof media !== "object") return;
      add(inner, media.image ? image(media.image) : file(media.file));
    });
    card.appendChild(inner);
    return card;
  }

  function notice(payload, messageId) {
    var body = el("div", { class: "ig-body ig-notice-body" }, [
      richText(str(payload.text), "ig-notice-text"),
    ]);
    if (payload.imageUrl) add(body, image({ url: payload.imageUrl }));
    var box = buttons(payload.buttons, messageId);
    if (box) body.appendChild(box);
    return body;
  }

  function contentNode(content, messageId) {
    content = content && typeof content === "object" ? content : {};
    if (content.basic) return { kind: "basic", node: basic(content.basic) };
    if (content.minimal) return { kind: "minimal", node: minimal(content.minimal) };
    if (content.template) return { kind: "template", node: template(content.template, messageId) };
    if (content.form) return { kind: "form", node: form(content.form) };
    if (content.system) return { kind: "system", node: notice(content.system, messageId) };
    var text = str(content.previewText) || "This message cannot be shown here.";
    return { kind: "unknown", node: el("div", { class: "ig-body" }, [richText(text)]) };
  }

  function timeOf(value) {
    var date = value ? new Date(value) : null;
    if (!date || isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function messageNode(message) {
    var direction = message.direction === PARTICIPANT ? PARTICIPANT : BUSINESS;
    var shown = contentNode(message.content, message.id);
    var classes = "ig-message ig-kind-" + shown.kind;
    if (shown.kind === "system") classes += " ig-notice";
    if (shown.kind === "template" || shown.kind === "form") classes += " ig-has-card";
    return el("div", {
      class: classes,
      "data-direction": direction,
      "data-message-id": str(message.id),
      "data-sequence": str(message.sequence),
    }, [shown.node, el("div", { class: "ig-meta", text: timeOf(message.createdDate) })]);
  }

  /* ---------- the message list ---------- */

  var root, bubble, badge, panel, list, input, sendButton, status, empty;

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
  }

  function firstPending() {
    return list.querySelector(".ig-pending, .ig-failed");
  }

  function place(node, sequence) {
    // Messages sit in sequence order; unsent ones stay at the bottom.
    var children = list.children;
    for (var i = 0; i < children.length; i++) {
      var child = children[i];
      var other = Number(child.getAttribute("data-sequence"));
      if (child.classList.contains("ig-pending") || child.classList.contains("ig-failed") ||
          (other && other > sequence)) {
        list.insertBefore(node, child);
        return;
      }
    }
    list.appendChild(node);
  }

  function showMessage(message, fromHistory) {
    if (!message || typeof message !== "object" || typeof message.id !== "string") return;
    var sequence = Number(message.sequence) || 0;
    var stick = nearBottom();
    var node = messageNode(message);
    var old = rendered.get(message.id);
    if (old && old.parentNode) {
      old.parentNode.replaceChild(node, old);
    } else if (sequence > lastSequence && !firstPending()) {
      list.appendChild(node);
    } else {
      place(node, sequence);
    }
    rendered.set(message.id, node);
    if (empty) empty.hidden = true;
    if (!old && choices[message.id]) showChoice(message.id, choices[message.id]);
    if (sequence > lastSequence) lastSequence = sequence;
    if (message.direction !== PARTICIPANT && sequence > lastBusinessSequence) {
      lastBusinessSequence = sequence;
      if (!old && sequence > readSequence && !panelOpen) setUnread(unread + 1);
    }
    if (stick || !fromHistory) scrollDown();
    if (!fromHistory) markRead();
  }

  function clearMessages() {
    rendered.clear();
    lastSequence = 0;
    syncedSequence = 0;
    lastBusinessSequence = 0;
    sentReadSequence = 0;
    setUnread(0);
    Array.prototype.slice.call(list.children).forEach(function (child) {
      if (child !== empty && !child.classList.contains("ig-pending")) list.removeChild(child);
    });
    if (empty) empty.hidden = pending.size > 0;
  }

  function showChoice(messageId, label) {
    var card = rendered.get(messageId);
    var old = list.querySelector('[data-choice-for="' + CSS.escape(messageId) + '"]');
    if (old) old.parentNode.removeChild(old);
    var node = el("div", {
      class: "ig-message ig-choice ig-kind-basic",
      "data-direction": PARTICIPANT,
      "data-choice-for": messageId,
    }, [el("div", { class: "ig-body" }, [el("p", { class: "ig-text", text: label })])]);
    if (card && card.parentNode) card.parentNode.insertBefore(node, card.nextSibling);
    else list.appendChild(node);
  }

  function loadChoices() {
    try {
      var value = JSON.parse(store.get("choices") || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (e) {
      return {};
    }
  }

  function choose(messageId, interactionId, label) {
    if (!messageId) return;
    send({ type: "interact", messageId: messageId, interactionId: interactionId }, true);
    choices[messageId] = label;
    var ids = Object.keys(choices);
    if (ids.length > 100) delete choices[ids[0]];
    store.set("choices", JSON.stringify(choices));
    showChoice(messageId, label);
    scrollDown();
  }

  function setUnread(count) {
    unread = count;
    if (!badge) return;
    badge.textContent = count > 9 ? "9+" : String(count);
    badge.hidden = count === 0;
  }

  function setStatus(text) {
    if (!status) return;
    status.textContent = text;
    status.hidden = !text;
  }

  /* ---------- sending ---------- */

  function newId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "c_" + Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }

  function socketOpen() {
    return ws && ws.readyState === WebSocket.OPEN;
  }

  function send(frame, queueIfClosed) {
    if (socketOpen()) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    if (queueIfClosed) queued.push(frame);
    start();
    return false;
  }

  function pendingMeta(entry, text, retry) {
    var meta = entry.node.querySelector(".ig-meta");
    meta.textContent = text;
    if (retry) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(el("button", {
        type: "button",
        class: "ig-retry",
        text: "Retry",
        onclick: function () {
          entry.failed = false;
          entry.node.classList.remove("ig-failed");
          entry.node.classList.add("ig-pending");
          pendingMeta(entry, "Sending…");
          send(entry.frame);
        },
      }));
    }
  }

  function sendText(text) {
    text = text.replace(/\s+$/, "");
    if (!text.replace(/\s/g, "")) return;
    var id = newId();
    var frame = { type: "message", clientMessageId: id, content: { basic: { items: [{ text: text }] } } };
    var node = messageNode({ id: "", direction: PARTICIPANT, content: frame.content });
    node.classList.add("ig-pending");
    node.setAttribute("data-client-message-id", id);
    list.appendChild(node);
    if (empty) empty.hidden = true;
    var entry = { frame: frame, node: node, failed: false };
    pending.set(id, entry);
    pendingMeta(entry, "Sending…");
    scrollDown();
    send(frame);
  }

  function acknowledged(frame) {
    var entry = pending.get(frame.clientMessageId);
    if (!entry) return;
    pending.delete(frame.clientMessageId);
    var message = frame.message;
    if (message && typeof message === "object" && typeof message.id === "string") {
      entry.node.parentNode && entry.node.parentNode.removeChild(entry.node);
      showMessage(message, false);
    } else {
      // A repeat of a message already stored: keep what the visitor typed.
      entry.node.classList.remove("ig-pending");
      pendingMeta(entry, "Sent");
    }
  }

  function refused(frame) {
    var entry = frame.clientMessageId && pending.get(frame.clientMessageId);
    if (entry) {
      entry.failed = true;
      entry.node.classList.remove("ig-pending");
      entry.node.classList.add("ig-failed");
      var why = frame.code === "RATE_LIMITED" ? "Too many messages. " : "Not sent. ";
      pendingMeta(entry, why, true);
      return;
    }
    if (frame.code === "INVALID_TOKEN") tokenRejected = true;
    if (frame.code === "ORIGIN_NOT_ALLOWED") unavailable = true;
  }

  function markRead() {
    if (!panelOpen || document.visibilityState === "hidden") return;
    if (lastBusinessSequence > readSequence) {
      readSequence = lastBusinessSequence;
      store.set("read", String(readSequence));
    }
    setUnread(0);
    if (socketOpen() && lastBusinessSequence > sentReadSequence) {
      sentReadSequence = lastBusinessSequence;
      ws.send(JSON.stringify({ type: "read", sequence: String(lastBusinessSequence) }));
    }
  }

  /* ---------- session and socket ---------- */

  function setToken(value) {
    token = value;
    if (value) store.set("token", value);
    else store.remove("token");
  }

  function forget() {
    setToken(null);
    conversation = null;
    store.remove("conversation");
    identifiedAs = null;
    store.remove("user");
    store.remove("read");
    readSequence = 0;
    clearMessages();
  }

  function errorCode(body) {
    return body && body.details && body.details.applicationError
      ? body.details.applicationError.code
      : null;
  }

  function openSession() {
    var body = {};
    var identity = pendingIdentity;
    if (token) body.token = token;
    if (identity) body.identity = identity;
    return fetch(BASE + "sessions", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () {
        return null;
      }).then(function (data) {
        if (response.status === 403 && body.token && errorCode(data) === "INVALID_TOKEN") {
          forget(); // a token from an older installation: start afresh
          return openSession();
        }
        if (response.status === 403 && errorCode(data) === "INVALID_IDENTITY") {
          pendingIdentity = null;
          if (window.console) console.warn("InboxGateway: identity signature refused");
          if (!token) return openSession();
          return null;
        }
        if (response.status === 403 && errorCode(data) === "ORIGIN_NOT_ALLOWED") {
          unavailable = true;
          setStatus("Chat is not available on this site.");
        }
        if (!response.ok || !data || typeof data.token !== "string") {
          throw new Error("chat session refused (" + response.status + ")");
        }
        if (data.conversationId !== conversation) {
          clearMessages(); // another conversation: show it from the start
          conversation = data.conversationId;
          store.set("conversation", conversation);
        }
        // A fresh token each time: its lifetime starts again (the conversation is the same).
        setToken(data.token);
        renewed = true;
        if (identity && pendingIdentity === identity) {
          pendingIdentity = null;
          identifiedAs = identity.userId;
          store.set("user", identity.userId);
        }
        return data;
      });
    });
  }

  function dropSocket() {
    var old = ws;
    ws = null;
    if (old) {
      try {
        old.close(1000);
      } catch (e) {
        /* ignore */
      }
    }
  }

  function reconnectLater() {
    if (timer || unavailable) return;
    var delay = Math.min(30000, 1000 * Math.pow(2, retries)) * (0.8 + Math.random() * 0.4);
    retries++;
    setStatus("Reconnecting…");
    timer = setTimeout(function () {
      timer = null;
      start();
    }, delay);
  }

  var starting = false;

  function start() {
    if (ws || timer || starting || unavailable) return;
    if (refusedToken !== null && token === refusedToken) {
      var stored = store.get("token");
      if (stored && stored !== refusedToken) {
        // another tab moved on (its storage event may not have come yet): follow it
        token = stored;
        identifiedAs = store.get("user");
        if (store.get("conversation") !== conversation) {
          conversation = store.get("conversation");
          clearMessages();
        }
      } else {
        forget();
      }
    }
    refusedToken = null;
    if (!token || pendingIdentity || !renewed) {
      starting = true;
      openSession().then(function () {
        starting = false;
        connect();
      }, function () {
        starting = false;
        reconnectLater();
      });
      return;
    }
    connect();
  }

  function sync(socket, afterSequence) {
    socket.send(JSON.stringify({ type: "sync", afterSequence: String(afterSequence) }));
  }

  function connect() {
    if (ws || !token) return;
    var socket = new WebSocket(WS_BASE + "ws?token=" + encodeURIComponent(token));
    ws = socket;
    socket.onopen = function () {
      if (ws !== socket) return;
      setStatus("");
      sync(socket, syncedSequence);
      pending.forEach(function (entry) {
        if (!entry.failed) socket.send(JSON.stringify(entry.frame));
      });
      queued.splice(0).forEach(function (frame) {
        socket.send(JSON.stringify(frame));
      });
      sentReadSequence = 0;
      markRead();
    };
    socket.onmessage = function (event) {
      if (ws !== socket) return;
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (!frame || typeof frame !== "object") return;
      // Backoff restarts only once the gateway answered: a socket that opens and is then
      // refused at once must not spin.
      if (frame.type !== "error") retries = 0;
      if (frame.type === "message") showMessage(frame.message, false);
      else if (frame.type === "history" && Array.isArray(frame.messages)) {
        var tail = 0;
        frame.messages.forEach(function (message) {
          showMessage(message, true);
          if (message && Number(message.sequence) > tail) tail = Number(message.sequence);
        });
        scrollDown();
        markRead();
        // Page on from this page's last message, not from lastSequence: a live message shown
        // meanwhile may be newer than messages still waiting in the next page.
        var full = frame.more === true || frame.messages.length >= HISTORY_PAGE;
        if (full && tail > syncedSequence) {
          syncedSequence = tail;
          sync(socket, tail);
        } else {
          // the history is complete, and live messages have been shown since it was read
          syncedSequence = Math.max(syncedSequence, lastSequence);
        }
      } else if (frame.type === "ack") acknowledged(frame);
      else if (frame.type === "error") refused(frame);
    };
    socket.onclose = function (event) {
      if (ws !== socket) return;
      ws = null;
      if (event.code === 4403 || unavailable) {
        unavailable = true;
        setStatus("Chat is not available on this site.");
        return;
      }
      if (event.code === 4401 || tokenRejected) {
        tokenRejected = false;
        refusedToken = token;
        reconnectLater();
        return;
      }
      reconnectLater();
    };
  }

  function restart() {
    dropSocket();
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    retries = 0;
    start();
  }

  /* ---------- the page ---------- */

  function openPanel() {
    if (!panel) return;
    panelOpen = true;
    panel.hidden = false;
    root.classList.add("ig-open");
    bubble.setAttribute("aria-expanded", "true");
    bubble.setAttribute("aria-label", "Close chat");
    start();
    scrollDown();
    markRead();
    if (window.matchMedia && !window.matchMedia("(max-width: 480px)").matches) input.focus();
  }

  function closePanel() {
    if (!panel) return;
    panelOpen = false;
    panel.hidden = true;
    root.classList.remove("ig-open");
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-label", "Open chat");
  }

  var CSS_TEXT = [
    "#ig-root{--ig-accent:#2563eb;--ig-text:#111827;--ig-muted:#6b7280;--ig-bg:#fff;--ig-soft:#f3f4f6;",
    "position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ig-text)}",
    "#ig-root *{box-sizing:border-box}",
    "#ig-root [hidden]{display:none!important}",
    "#ig-bubble{width:56px;height:56px;border-radius:50%;border:0;background:var(--ig-accent);color:#fff;cursor:pointer;",
    "box-shadow:0 6px 20px rgba(0,0,0,.22);display:flex;align-items:center;justify-content:center;position:relative;padding:0;margin-left:auto}",
    "#ig-bubble svg{width:28px;height:28px;fill:currentColor}",
    "#ig-bubble:focus-visible,#ig-root button:focus-visible,#ig-input:focus-visible{outline:3px solid rgba(37,99,235,.45);outline-offset:2px}",
    ".ig-badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#ef4444;color:#fff;",
    "font-size:12px;font-weight:600;line-height:20px;text-align:center;padding:0 5px}",
    "#ig-panel{position:absolute;right:0;bottom:72px;width:370px;height:560px;max-height:calc(100vh - 110px);background:var(--ig-bg);",
    "border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.22);display:flex;flex-direction:column;overflow:hidden}",
    ".ig-header{background:var(--ig-accent);color:#fff;padding:14px 16px;display:flex;align-items:center;gap:8px}",
    ".ig-title{font-size:16px;font-weight:600;margin:0;flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}",
    "#ig-close{background:transparent;border:0;color:#fff;cursor:pointer;width:32px;height:32px;border-radius:8px;padding:4px}",
    "#ig-close svg{width:24px;height:24px;fill:currentColor}",
    "#ig-status{background:#fef3c7;color:#92400e;font-size:12px;padding:4px 16px}",
    "#ig-messages{flex:1;overflow-y:auto;padding:16px 12px;display:flex;flex-direction:column;gap:8px;background:#fafafa}",
    ".ig-empty{color:var(--ig-muted);text-align:center;margin:auto 16px}",
    ".ig-message{max-width:82%;display:flex;flex-direction:column;align-self:flex-start}",
    ".ig-message[data-direction=PARTICIPANT_TO_BUSINESS]{align-self:flex-end;align-items:flex-end}",
    ".ig-body{background:var(--ig-soft);border-radius:16px 16px 16px 4px;padding:8px 12px;overflow-wrap:anywhere}",
    ".ig-message[data-direction=PARTICIPANT_TO_BUSINESS] .ig-body{background:var(--ig-accent);color:#fff;border-radius:16px 16px 4px 16px}",
    ".ig-message[data-direction=PARTICIPANT_TO_BUSINESS] .ig-body a{color:#fff}",
    ".ig-text,.ig-card-line,.ig-notice-text{margin:0;white-space:pre-wrap}",
    ".ig-text+.ig-text{margin-top:6px}",
    ".ig-body a{color:var(--ig-accent)}",
    ".ig-image-link{display:block;margin:4px 0}",
    ".ig-image{display:block;max-width:100%;max-height:240px;border-radius:10px}",
    ".ig-file{display:inline-flex;align-items:center;gap:4px;font-weight:500}",
    ".ig-file svg{width:16px;height:16px;fill:currentColor}",
    ".ig-icon{width:20px;height:20px;border-radius:4px;vertical-align:middle;margin-right:6px;float:left}",
    ".ig-minimal-link{display:block;margin-top:4px;overflow-wrap:anywhere}",
    ".ig-meta{color:var(--ig-muted);font-size:11px;margin:2px 6px 0}",
    ".ig-meta:empty{display:none}",
    ".ig-pending{opacity:.65}",
    ".ig-failed .ig-meta{color:#b91c1c}",
    ".ig-retry{background:none;border:0;color:var(--ig-accent);cursor:pointer;font:inherit;text-decoration:underline;padding:0}",
    ".ig-card{background:#fff;border:1px solid #e5e7eb;border-radius:14px;overflow:hidden;width:260px;max-width:100%}",
    ".ig-card-image{display:block;width:100%;max-height:180px;object-fit:cover}",
    ".ig-card .ig-image-link{margin:0}",
    ".ig-card-body{padding:10px 12px}",
    ".ig-card-title{margin:0 0 4px;font-size:15px;font-weight:600}",
    ".ig-card-line{color:#374151}",
    ".ig-buttons{display:flex;flex-direction:column;border-top:1px solid #e5e7eb}",
    ".ig-button{display:block;background:#fff;border:0;border-top:1px solid #e5e7eb;color:var(--ig-accent);font:inherit;font-weight:500;",
    "padding:10px 12px;text-align:center;cursor:pointer;text-decoration:none}",
    ".ig-button:first-child{border-top:0}",
    ".ig-button:hover{background:#eff6ff}",
    ".ig-notice-body .ig-buttons{border-top:0;margin-top:6px}",
    ".ig-fields{margin:6px 0 0}",
    ".ig-field{display:flex;gap:6px;padding:2px 0}",
    ".ig-field dt{font-weight:600;margin:0}",
    ".ig-field dt::after{content:':'}",
    ".ig-field dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".ig-notice{align-self:center;max-width:90%;text-align:center}",
    ".ig-notice .ig-body{background:#eef2ff;color:#3730a3;border-radius:10px;font-size:13px}",
    ".ig-composer{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid #e5e7eb;background:#fff;margin:0}",
    "#ig-input{flex:1;resize:none;border:1px solid #d1d5db;border-radius:12px;padding:9px 12px;font:inherit;color:inherit;",
    "max-height:120px;min-height:40px;background:#fff}",
    "#ig-send{width:40px;height:40px;border-radius:50%;border:0;background:var(--ig-accent);color:#fff;cursor:pointer;",
    "display:flex;align-items:center;justify-content:center;flex:none;padding:0}",
    "#ig-send svg{width:20px;height:20px;fill:currentColor}",
    "@media (max-width:480px){#ig-root{right:12px;bottom:12px}",
    "#ig-root.ig-open #ig-panel{position:fixed;inset:0;width:100%;height:100%;max-height:none;border-radius:0}",
    "#ig-root.ig-open #ig-bubble{display:none}#ig-input{font-size:16px}}",
  ].join("\n");

  var CHAT_ICON = "M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1L4 21.5l4.5-2.1c1.1.3 2.3.5 3.5.5 5.5 0 10-3.8 10-8.5S17.5 3 12 3z";
  var CLOSE_ICON = "M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z";
  var SEND_ICON = "M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z";

  function mount() {
    var style = el("style", { id: "ig-style" });
    style.textContent = CSS_TEXT;
    document.head.appendChild(style);

    badge = el("span", { class: "ig-badge", "aria-hidden": "true", hidden: true });
    bubble = el("button", {
      id: "ig-bubble",
      type: "button",
      "aria-label": "Open chat",
      "aria-controls": "ig-panel",
      "aria-expanded": "false",
      onclick: function () {
        if (panelOpen) closePanel();
        else openPanel();
      },
    }, [icon(CHAT_ICON), badge]);

    empty = el("p", { class: "ig-empty", text: "Send us a message and we will reply here." });
    list = el("div", { id: "ig-messages", role: "log", "aria-live": "polite" }, [empty]);
    status = el("div", { id: "ig-status", role: "status", hidden: true });
    input = el("textarea", {
      id: "ig-input",
      rows: "1",
      maxlength: "4096",
      placeholder: "Write a message…",
      "aria-label": "Message",
      onkeydown: function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          submit();
        }
      },
    });
    sendButton = el("button", { id: "ig-send", type: "submit", "aria-label": "Send" }, [icon(SEND_ICON)]);
    var composer = el("form", {
      class: "ig-composer",
      onsubmit: function (event) {
        event.preventDefault();
        submit();
      },
    }, [input, sendButton]);

    panel = el("div", { id: "ig-panel", role: "dialog", "aria-label": TITLE, hidden: true }, [
      el("div", { class: "ig-header" }, [
        el("h3", { class: "ig-title", text: TITLE }),
        el("button", { id: "ig-close", type: "button", "aria-label": "Close chat", onclick: closePanel }, [
          icon(CLOSE_ICON),
        ]),
      ]),
      status,
      list,
      composer,
    ]);

    root = el("div", { id: "ig-root" }, [panel, bubble]);
    if (/^#[0-9a-fA-F]{3,8}$/.test(COLOR)) root.style.setProperty("--ig-accent", COLOR);
    document.body.appendChild(root);
  }

  function submit() {
    var text = input.value;
    if (!text.replace(/\s/g, "")) return;
    input.value = "";
    sendText(text);
    input.focus();
  }

  /* ---------- public API ---------- */

  function identify(identity) {
    if (!identity || typeof identity !== "object" || typeof identity.userId !== "string" ||
        typeof identity.signature !== "string") {
      return Promise.reject(new Error("identify needs {userId, signature}"));
    }
    var clean = { userId: identity.userId, signature: identity.signature };
    ["name", "email", "phone"].forEach(function (key) {
      if (typeof identity[key] === "string" && identity[key]) clean[key] = identity[key];
    });
    if (token && identifiedAs === clean.userId) return Promise.resolve(); // already this person
    pendingIdentity = clean;
    if (!token && !panelOpen) return Promise.resolve(); // used when the chat first opens
    dropSocket();
    return openSession().then(
      function () {
        restart();
      },
      function (error) {
        restart();
        throw error;
      }
    );
  }

  function reset() {
    dropSocket();
    pendingIdentity = null;
    pending.clear();
    queued = [];
    choices = {};
    store.remove("choices");
    forget();
    Array.prototype.slice.call(list ? list.querySelectorAll(".ig-pending,.ig-failed") : []).forEach(
      function (node) {
        node.parentNode.removeChild(node);
      }
    );
    if (panelOpen) start();
  }

  window.InboxGateway = {
    version: "1",
    open: openPanel,
    close: closePanel,
    toggle: function () {
      if (panelOpen) closePanel();
      else openPanel();
    },
    identify: identify,
    reset: reset,
  };

  function boot() {
    mount();
    var preset = window.InboxGatewaySettings;
    if (preset && preset.identity) identify(preset.identity).catch(function () {});
    if (token) start(); // a returning visitor: show replies that came while they were away
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        if (!ws && token && timer) restart();
        markRead();
      }
    });
    window.addEventListener("online", function () {
      if (!ws && token) restart();
    });
    window.addEventListener("storage", function (event) {
      // Another tab identified the visitor or started afresh: follow it.
      if (event.key !== KEY + ":token" || event.newValue === token) return;
      var stored = store.get("conversation");
      var sameConversation = token && event.newValue && stored === conversation;
      token = event.newValue;
      identifiedAs = store.get("user");
      if (sameConversation) return; // another tab renewed the token: this socket stays
      conversation = stored;
      dropSocket();
      clearMessages();
      if (token) restart(); // a removed token: wait for the other tab's new one
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
