// compose.js: see the inbox pages.
"use strict";
