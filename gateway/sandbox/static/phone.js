// The sandbox phone: plays an SMS customer and a Messenger customer. Text goes on the page
// with textContent only; links only when they are http(s).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(value) {
    try {
      const url = new URL(String(value), location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  async function call(path, body) {
    const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const response = await fetch("/sandbox/api/" + path, init);
    if (!response.ok) throw new Error("the gateway answered " + response.status);
    return response.json();
  }

  function stick(box, render) {
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const before = box.childElementCount;
    render();
    if (atBottom || box.childElementCount !== before) box.scrollTop = box.scrollHeight;
  }

  // --- SMS -----------------------------------------------------------------------------

  let smsKey = "";
  async function pollSms() {
    const number = $("sms-number").value.trim();
    const data = await call("sms?" + new URLSearchParams({ number: number }));
    const key = JSON.stringify(data.messages);
    if (key === smsKey) return;
    smsKey = key;
    const box = $("sms-messages");
    stick(box, () => {
      box.replaceChildren();
      for (const m of data.messages) {
        const bubble = el("div", "bubble " + (m.from === "customer" ? "mine" : "theirs"));
        if (m.text) bubble.appendChild(el("div", "text", m.text));
        for (const url of m.media || []) {
          const safe = safeUrl(url);
          if (safe) {
            const a = el("a", "media-link", "📎 " + safe);
            a.href = safe;
            a.target = "_blank";
            a.rel = "noopener noreferrer";
            bubble.appendChild(a);
          }
        }
        box.appendChild(bubble);
      }
      if (!data.messages.length) box.appendChild(el("p", "empty", "Text the business to start."));
    });
  }

  async function sendSms(event) {
    event.preventDefault();
    const text = $("sms-text").value;
    if (!text.trim()) return;
    $("sms-text").value = "";
    try {
      await call("sms", { from: $("sms-number").value.trim(), body: text });
    } catch (error) {
      alert(error.message);
    }
    pollSms();
  }

  // --- Messenger -----------------------------------------------------------------------

  function messengerTap(kind, title, payload) {
    call("messenger", { psid: $("messenger-psid").value.trim(), name: $("messenger-name").value.trim(), [kind]: { title: title, payload: payload } })
      .then(pollMessenger)
      .catch((error) => alert(error.message));
  }

  function renderButtons(parent, buttons) {
    const row = el("div", "card-buttons");
    for (const b of buttons || []) {
      if (b.type === "web_url") {
        const safe = safeUrl(b.url);
        const a = el("a", "card-button", b.title);
        if (safe) {
          a.href = safe;
          a.target = "_blank";
          a.rel = "noopener noreferrer";
        }
        row.appendChild(a);
      } else {
        const button = el("button", "card-button", b.title);
        button.type = "button";
        button.addEventListener("click", () => messengerTap("postback", b.title, b.payload));
        row.appendChild(button);
      }
    }
    parent.appendChild(row);
  }

  function renderPageMessage(box, message) {
    const bubble = el("div", "bubble theirs");
    if (message.text) bubble.appendChild(el("div", "text", message.text));
    const attachment = message.attachment;
    if (attachment && attachment.type === "template") {
      const payload = attachment.payload || {};
      bubble.classList.add("card");
      if (payload.template_type === "button") {
        bubble.appendChild(el("div", "text", payload.text));
        renderButtons(bubble, payload.buttons);
      }
      for (const element of payload.elements || []) {
        const src = element.image_url && safeUrl(element.image_url);
        if (src) {
          const img = el("img", "card-image");
          img.src = src;
          img.alt = "";
          bubble.appendChild(img);
        }
        bubble.appendChild(el("div", "card-title", element.title));
        if (element.subtitle) bubble.appendChild(el("div", "card-subtitle", element.subtitle));
        renderButtons(bubble, element.buttons);
      }
    } else if (attachment) {
      const url = attachment.payload && safeUrl(attachment.payload.url);
      if (attachment.type === "image" && url) {
        const img = el("img", "image");
        img.src = url;
        img.alt = "";
        bubble.appendChild(img);
      } else if (url) {
        const a = el("a", "media-link", "📎 " + url);
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        bubble.appendChild(a);
      }
    }
    box.appendChild(bubble);
    if (message.quick_replies && message.quick_replies.length) {
      const row = el("div", "quick-replies");
      for (const q of message.quick_replies) {
        const button = el("button", "quick-reply", q.title);
        button.type = "button";
        button.addEventListener("click", () => messengerTap("quickReply", q.title, q.payload));
        row.appendChild(button);
      }
      box.appendChild(row);
    }
  }

  let messengerKey = "";
  async function pollMessenger() {
    const psid = $("messenger-psid").value.trim();
    const data = await call("messenger?" + new URLSearchParams({ psid: psid }));
    const key = JSON.stringify(data.messages.map((m) => [m.mid, m.text, m.time]));
    if (key === messengerKey) return;
    messengerKey = key;
    const box = $("messenger-messages");
    stick(box, () => {
      box.replaceChildren();
      for (const m of data.messages) {
        if (m.from === "customer") box.appendChild(el("div", "bubble mine", m.text));
        else renderPageMessage(box, m.message || {});
      }
      if (!data.messages.length) box.appendChild(el("p", "empty", "Message the Page to start."));
    });
  }

  async function sendMessenger(event) {
    event.preventDefault();
    const text = $("messenger-text").value;
    if (!text.trim()) return;
    $("messenger-text").value = "";
    try {
      await call("messenger", { psid: $("messenger-psid").value.trim(), name: $("messenger-name").value.trim(), text: text });
    } catch (error) {
      alert(error.message);
    }
    pollMessenger();
  }

  function loop() {
    Promise.allSettled([pollSms(), pollMessenger()]).finally(() => setTimeout(loop, 1000));
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sms-form").addEventListener("submit", sendSms);
    $("messenger-form").addEventListener("submit", sendMessenger);
    $("sms-number").addEventListener("change", () => { smsKey = ""; pollSms(); });
    $("messenger-psid").addEventListener("change", () => { messengerKey = ""; pollMessenger(); });
    loop();
  });
})();
