-- The dissector proper: it walks SPEC (above, generated from docs/protocol.md) over each frame.
-- (This part is protocol/tests/support/rcs_engine.lua, copied verbatim by the generator.)

local rcs = Proto("rcs", "rcs AGV <-> RCS protocol")

-- Bit operations: Lua 5.2's bit32, Wireshark's bit, or the operators of Lua 5.3 and later.
local band, bxor, rshift, lshift
if bit32 then
    band, bxor, rshift, lshift = bit32.band, bit32.bxor, bit32.rshift, bit32.lshift
elseif bit then
    band, bxor, rshift, lshift = bit.band, bit.bxor, bit.rshift, bit.lshift
else
    band = load("return function(a, b) return a & b end")()
    bxor = load("return function(a, b) return a ~ b end")()
    rshift = load("return function(a, n) return (a & 0xFFFFFFFF) >> n end")()
    lshift = load("return function(a, n) return (a << n) & 0xFFFFFFFF end")()
end
local function u32(x) return x % 4294967296 end

-- CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF, not reflected) and CRC-32C (reflected 0x82F63B78).
local function crc16(bytes)
    local crc = 0xFFFF
    for i = 0, bytes:len() - 1 do
        crc = bxor(crc, lshift(bytes:get_index(i), 8))
        for _ = 1, 8 do
            if band(crc, 0x8000) ~= 0 then
                crc = bxor(band(lshift(crc, 1), 0xFFFF), 0x1021)
            else
                crc = band(lshift(crc, 1), 0xFFFF)
            end
        end
    end
    return u32(crc)
end
local CRC32C = {}
for i = 0, 255 do
    local c = i
    for _ = 1, 8 do
        if band(c, 1) ~= 0 then c = bxor(rshift(c, 1), 0x82F63B78) else c = rshift(c, 1) end
    end
    CRC32C[i] = u32(c)
end
local function crc32c(bytes)
    local crc = 0xFFFFFFFF
    for i = 0, bytes:len() - 1 do
        crc = bxor(rshift(crc, 8), CRC32C[u32(band(bxor(crc, bytes:get_index(i)), 0xFF))])
    end
    return u32(bxor(crc, 0xFFFFFFFF))
end

local ENUMS, DEFS, MESSAGES, EXTENSIONS = SPEC.enums, SPEC.defs, SPEC.messages, SPEC.extensions

-- Expert infos: what section 5 calls malformed or invalid, and bad CRCs.
local EX = {
    truncated = ProtoExpert.new("rcs.truncated", "Body ends inside a field (MalformedFrame)",
        expert.group.MALFORMED, expert.severity.ERROR),
    trailing = ProtoExpert.new("rcs.trailing", "Bytes left over after the last field (MalformedFrame)",
        expert.group.MALFORMED, expert.severity.ERROR),
    invalid = ProtoExpert.new("rcs.invalid", "Value not allowed by the specification (InvalidField)",
        expert.group.MALFORMED, expert.severity.WARN),
    unknown = ProtoExpert.new("rcs.unknown_type", "Message type not in this specification",
        expert.group.UNDECODED, expert.severity.NOTE),
    crc = ProtoExpert.new("rcs.bad_crc", "Checksum mismatch (ChecksumMismatch)",
        expert.group.CHECKSUM, expert.severity.ERROR),
    garbage = ProtoExpert.new("rcs.garbage", "Bytes that do not start a frame (MalformedFrame)",
        expert.group.MALFORMED, expert.severity.ERROR),
}
rcs.experts = { EX.truncated, EX.trailing, EX.invalid, EX.unknown, EX.crc, EX.garbage }

-- Fields: one per path (rcs.<message>.<field>.<subfield>...), declared before dissection.
local PF, ORDER = {}, {}
local function decl(abbr, make)
    if not PF[abbr] then
        PF[abbr] = make()
        ORDER[#ORDER + 1] = PF[abbr]
    end
    return PF[abbr]
end

local function resolve(ty)
    while type(ty) == "table" and ty.def and DEFS[ty.def].alias do ty = DEFS[ty.def].alias end
    return ty
end
local function composite(ty)
    ty = resolve(ty)
    return type(ty) == "table" and ty.def ~= nil
end

local UINT = { u8 = ProtoField.uint8, u16 = ProtoField.uint16, u32 = ProtoField.uint32,
    u64 = ProtoField.uint64 }
local SIZE = { u8 = 1, u16 = 2, u32 = 4, u64 = 8, i32 = 4, f32 = 4, f64 = 8, bool = 1 }
local PRESENT = { [0] = "absent", [1] = "present" }

local declare, declare_contents
function declare(ty, abbr, label)
    ty = resolve(ty)
    if type(ty) == "string" then
        decl(abbr, function()
            if UINT[ty] then return UINT[ty](abbr, label, base.DEC) end
            if ty == "i32" then return ProtoField.int32(abbr, label, base.DEC) end
            if ty == "f32" then return ProtoField.float(abbr, label) end
            if ty == "f64" then return ProtoField.double(abbr, label) end
            if ty == "bool" then return ProtoField.bool(abbr, label) end
            if ty == "string" then return ProtoField.string(abbr, label) end
            return ProtoField.bytes(abbr, label)
        end)
    elseif ty.e then
        decl(abbr, function() return UINT[ty.w](abbr, label, base.DEC, ENUMS[ty.e]) end)
    elseif ty.arr then
        decl(abbr, function() return ProtoField.bytes(abbr, label) end)
    elseif ty.list then
        decl(abbr, function() return ProtoField.uint16(abbr, label, base.DEC) end)
        if composite(ty.list) then
            decl(abbr .. ".item", function() return ProtoField.none(abbr .. ".item", "item") end)
            declare_contents(ty.list, abbr)
        else
            declare(ty.list, abbr .. ".item", "item")
        end
    elseif ty.opt then
        decl(abbr, function() return ProtoField.uint8(abbr, label, base.DEC, PRESENT) end)
        if composite(ty.opt) then
            declare_contents(ty.opt, abbr)
        else
            declare(ty.opt, abbr .. ".value", "value")
        end
    else
        decl(abbr, function() return ProtoField.none(abbr, label) end)
        declare_contents(ty, abbr)
    end
end

function declare_contents(ty, abbr)
    local name = resolve(ty).def
    local d = DEFS[name]
    if d.struct then
        for _, f in ipairs(d.struct) do declare(f[2], abbr .. "." .. f[1], f[1]) end
        if name == "Extension" then
            for _, x in pairs(EXTENSIONS) do declare(x.ty, abbr .. "." .. x.abbr, x.name) end
        end
    else
        local names = {}
        for tag, v in pairs(d.union) do names[tag] = v.name end
        decl(abbr .. ".tag", function() return ProtoField.uint8(abbr .. ".tag", "tag", base.DEC, names) end)
        for _, v in pairs(d.union) do
            local at = abbr .. "." .. v.name
            if v.ty then
                declare(v.ty, at, v.name)
            else
                decl(at, function() return ProtoField.none(at, v.name) end)
                for _, f in ipairs(v.fields) do declare(f[2], at .. "." .. f[1], f[1]) end
            end
        end
    end
end

-- The frame's own fields.
local H = {}
local MESSAGE_NAMES = {}
for code, m in pairs(MESSAGES) do MESSAGE_NAMES[code] = m.name end
for _, h in ipairs(SPEC.header) do
    local abbr = "rcs." .. h.abbr
    H[h.name] = h
    decl(abbr, function()
        if h.name == "magic" or h.name == "reserved" then return ProtoField.bytes(abbr, h.name) end
        if h.name == "flags" then return ProtoField.uint8(abbr, h.name, base.HEX) end
        if h.name == "message type" then return ProtoField.uint16(abbr, h.name, base.HEX, MESSAGE_NAMES) end
        if h.name == "header CRC" then return ProtoField.uint16(abbr, h.name, base.HEX) end
        return UINT[({ "u8", "u16", nil, "u32", nil, nil, nil, "u64" })[h.size]](abbr, h.name, base.DEC)
    end)
end
for _, f in ipairs(SPEC.flags) do
    local abbr = "rcs.flags." .. f.name:lower()
    decl(abbr, function()
        if f.name == "reserved" then return ProtoField.uint8(abbr, f.name, base.HEX, nil, f.mask) end
        return ProtoField.bool(abbr, f.name, 8, nil, f.mask)
    end)
end
decl("rcs.encrypted_body", function() return ProtoField.bytes("rcs.encrypted_body", "encrypted body") end)
decl("rcs.body", function() return ProtoField.bytes("rcs.body", "body") end)
decl("rcs.auth_tag", function() return ProtoField.bytes("rcs.auth_tag", "auth tag") end)
decl("rcs.frame_crc", function() return ProtoField.uint32("rcs.frame_crc", "frame CRC", base.HEX) end)
decl("rcs.garbage", function() return ProtoField.bytes("rcs.garbage", "not a frame") end)
for code, m in pairs(MESSAGES) do
    decl("rcs." .. m.abbr, function() return ProtoField.none("rcs." .. m.abbr, m.name) end)
    for _, f in ipairs(m.fields) do declare(f[2], "rcs." .. m.abbr .. "." .. f[1], f[1]) end
end
rcs.fields = ORDER

-- Dissection: a cursor { tvb, off, stop, pinfo } walks the body.
local function need(c, n)
    if c.off + n > c.stop then error({ truncated = true }) end
end
local function invalid(c, item, why)
    item:add_proto_expert_info(EX.invalid, why)
end

local dissect, contents
function dissect(ty, c, tree, abbr)
    ty = resolve(ty)
    local start = c.off
    if type(ty) == "string" then
        if ty == "string" then
            need(c, 1)
            local n = c.tvb(c.off, 1):uint()
            need(c, 1 + n)
            local s = n > 0 and c.tvb(c.off + 1, n):string(ENC_UTF_8) or ""
            c.off = c.off + 1 + n
            return tree:add(PF[abbr], c.tvb(start, 1 + n), s)
        elseif ty == "bytes" then
            need(c, 2)
            local n = c.tvb(c.off, 2):le_uint()
            need(c, 2 + n)
            c.off = c.off + 2 + n
            local item = tree:add(PF[abbr], c.tvb(start + 2, n))
            item:append_text(" (" .. n .. " bytes)")
            return item
        end
        need(c, SIZE[ty])
        local item = tree:add_le(PF[abbr], c.tvb(c.off, SIZE[ty]))
        if ty == "bool" and c.tvb(c.off, 1):uint() > 1 then invalid(c, item, "a bool is 00 or 01") end
        c.off = c.off + SIZE[ty]
        return item
    elseif ty.e then
        local n = SIZE[ty.w]
        need(c, n)
        local item = tree:add_le(PF[abbr], c.tvb(c.off, n))
        local v = c.tvb(c.off, n):le_uint()
        if ENUMS[ty.e][v] == nil then invalid(c, item, v .. " is not in " .. ty.e .. "'s table") end
        c.off = c.off + n
        return item
    elseif ty.arr then
        need(c, ty.arr)
        c.off = c.off + ty.arr
        return tree:add(PF[abbr], c.tvb(start, ty.arr))
    elseif ty.list then
        need(c, 2)
        local n = c.tvb(c.off, 2):le_uint()
        local item = tree:add_le(PF[abbr], c.tvb(c.off, 2))
        c.off = c.off + 2
        for i = 1, n do
            if composite(ty.list) then
                local at = c.off
                local e = item:add(PF[abbr .. ".item"], c.tvb(c.off, 0))
                e:append_text(" " .. i)
                contents(ty.list, c, e, abbr)
                e:set_len(c.off - at)
            else
                dissect(ty.list, c, item, abbr .. ".item")
            end
        end
        item:set_len(c.off - start)
        return item
    elseif ty.opt then
        need(c, 1)
        local flag = c.tvb(c.off, 1):uint()
        local item = tree:add_le(PF[abbr], c.tvb(c.off, 1))
        c.off = c.off + 1
        if flag == 1 then
            if composite(ty.opt) then contents(ty.opt, c, item, abbr) else dissect(ty.opt, c, item, abbr .. ".value") end
        elseif flag ~= 0 then
            invalid(c, item, "an option is 00 or 01")
            error({ stop = true })
        end
        item:set_len(c.off - start)
        return item
    end
    local item = tree:add(PF[abbr], c.tvb(c.off, 0))
    contents(ty, c, item, abbr)
    item:set_len(c.off - start)
    return item
end

function contents(ty, c, tree, abbr)
    local name = resolve(ty).def
    local d = DEFS[name]
    if d.struct then
        local items, starts = {}, {}
        for _, f in ipairs(d.struct) do
            starts[f[1]] = c.off
            items[f[1]] = dissect(f[2], c, tree, abbr .. "." .. f[1])
        end
        if name == "Extension" then
            local key = c.tvb(starts.key, 2):le_uint()
            local x = EXTENSIONS[key]
            if x then
                items.key:append_text(" (" .. x.name .. ")")
                local n = c.tvb(starts.value, 2):le_uint()
                local sub = { tvb = c.tvb, off = starts.value + 2, stop = starts.value + 2 + n, pinfo = c.pinfo }
                dissect(x.ty, sub, items.value, abbr .. "." .. x.abbr)
                if sub.off ~= sub.stop then items.value:add_proto_expert_info(EX.trailing) end
            end
        end
        return
    end
    need(c, 1)
    local tag = c.tvb(c.off, 1):uint()
    local item = tree:add_le(PF[abbr .. ".tag"], c.tvb(c.off, 1))
    c.off = c.off + 1
    local v = d.union[tag]
    if not v then
        invalid(c, item, tag .. " is not a tag of " .. name)
        error({ stop = true })
    end
    local at = abbr .. "." .. v.name
    if v.ty then
        dissect(v.ty, c, tree, at)
    else
        local start = c.off
        local vi = tree:add(PF[at], c.tvb(c.off, 0))
        for _, f in ipairs(v.fields) do dissect(f[2], c, vi, at .. "." .. f[1]) end
        vi:set_len(c.off - start)
    end
end

local function has(flags, name)
    for _, f in ipairs(SPEC.flags) do
        if f.name == name then return band(flags, f.mask) ~= 0 end
    end
    return false
end

local function tag_len(flags)
    for _, t in ipairs(SPEC.tags) do
        if has(flags, t.flag) then return t.len, t.flag end
    end
    return 0, nil
end

local function field_at(tvb, off, name)
    local h = H[name]
    return tvb(off + h.off, h.size)
end

-- The whole length of the frame at `off` (its header is there).
local function frame_len(tvb, off)
    local flags = field_at(tvb, off, "flags"):uint()
    local body = field_at(tvb, off, "body length"):le_uint()
    return SPEC.header_len + body + tag_len(flags) + SPEC.trailer
end

local MAX_FRAME = 16 * 1024 * 1024

-- One whole frame at `off`, `len` bytes; returns a summary for the Info column.
local function dissect_frame(tvb, off, len, pinfo, tree)
    local ftvb = tvb(off, len):tvb()
    local top = tree:add(rcs, ftvb())
    for _, h in ipairs(SPEC.header) do
        local item = top:add_le(PF["rcs." .. h.abbr], ftvb(h.off, h.size))
        if h.name == "flags" then
            for _, f in ipairs(SPEC.flags) do item:add(PF["rcs.flags." .. f.name:lower()], ftvb(h.off, 1)) end
        elseif h.name == "timestamp" then
            local ms = ftvb(h.off, h.size):le_uint64():tonumber()
            item:append_text(os.date("! (%Y-%m-%d %H:%M:%S", math.floor(ms / 1000)) ..
                string.format(".%03d UTC)", ms % 1000))
        elseif h.name == "header CRC" then
            local want = crc16(ftvb(0, h.off):bytes())
            if want == ftvb(h.off, h.size):le_uint() then
                item:append_text(" [correct]")
            else
                item:add_proto_expert_info(EX.crc, string.format("header CRC should be 0x%04x", want))
            end
        end
    end
    local flags = field_at(ftvb, 0, "flags"):uint()
    local code = field_at(ftvb, 0, "message type"):le_uint()
    local seq = field_at(ftvb, 0, "sequence number"):le_uint()
    local body_len = field_at(ftvb, 0, "body length"):le_uint()
    local tlen, tflag = tag_len(flags)
    local hl = SPEC.header_len
    local m = MESSAGES[code]
    local name = m and m.name or string.format("0x%04x", code)
    top:append_text(", " .. name .. ", seq " .. seq)
    if has(flags, "ENCRYPTED") then
        local item = top:add(PF["rcs.encrypted_body"], ftvb(hl, body_len))
        item:append_text(" (" .. name .. ", SM4-CTR ciphertext: not decoded)")
        name = name .. " [encrypted]"
    elseif not m then
        top:add(PF["rcs.body"], ftvb(hl, body_len)):add_proto_expert_info(EX.unknown)
    else
        local mtree = top:add(PF["rcs." .. m.abbr], ftvb(hl, body_len))
        local c = { tvb = ftvb, off = hl, stop = hl + body_len, pinfo = pinfo }
        local ok, err = pcall(function()
            for _, f in ipairs(m.fields) do dissect(f[2], c, mtree, "rcs." .. m.abbr .. "." .. f[1]) end
        end)
        if not ok then
            if type(err) ~= "table" then error(err) end
            if err.truncated then mtree:add_proto_expert_info(EX.truncated) end
        elseif c.off < c.stop then
            mtree:add_proto_expert_info(EX.trailing, (c.stop - c.off) .. " bytes left over")
        end
    end
    if tlen > 0 then
        local item = top:add(PF["rcs.auth_tag"], ftvb(hl + body_len, tlen))
        item:append_text(tflag == "SIGNED" and " (SM2 signature r || s)" or (" (" .. tflag .. ")"))
    end
    local crc_at = hl + body_len + tlen
    local item = top:add_le(PF["rcs.frame_crc"], ftvb(crc_at, SPEC.trailer))
    local want = crc32c(ftvb(hl, body_len + tlen):bytes())
    if want == ftvb(crc_at, SPEC.trailer):le_uint() then
        item:append_text(" [correct]")
    else
        item:add_proto_expert_info(EX.crc, string.format("frame CRC should be 0x%08x", want))
    end
    return name
end

local MAGIC = SPEC.magic

-- A TCP stream's bytes: several frames per segment, a frame over several segments.
function rcs.dissector(tvb, pinfo, tree)
    local n = tvb:len()
    local off = 0
    local names = {}
    while off < n do
        local avail = n - off
        local m = math.min(avail, #MAGIC)
        for i = 1, m do
            if tvb(off + i - 1, 1):uint() ~= MAGIC[i] then
                if off == 0 then return 0 end
                local g = tree:add(rcs, tvb(off, avail))
                g:add(PF["rcs.garbage"], tvb(off, avail)):add_proto_expert_info(EX.garbage)
                off = n
                break
            end
        end
        if off >= n then break end
        if avail < SPEC.header_len then
            pinfo.desegment_offset = off
            pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
            break
        end
        local len = frame_len(tvb, off)
        if len > MAX_FRAME then
            local g = tree:add(rcs, tvb(off, avail))
            g:add(PF["rcs.garbage"], tvb(off, avail)):add_proto_expert_info(EX.garbage, "frame larger than 16 MiB")
            off = n
            break
        end
        if avail < len then
            pinfo.desegment_offset = off
            pinfo.desegment_len = len - avail
            break
        end
        names[#names + 1] = dissect_frame(tvb, off, len, pinfo, tree)
        off = off + len
    end
    -- called again for the same packet after a reassembled frame: append to what it showed
    local again = tostring(pinfo.cols.protocol) == "RCS"
    pinfo.cols.protocol = "RCS"
    if #names > 0 then
        local text = table.concat(names, ", ")
        if again then pinfo.cols.info:append(", " .. text) else pinfo.cols.info = text end
    end
    return n
end

-- Registered on the RCS's default AGV port; any other port through Decode As (TCP port, RCS).
DissectorTable.get("tcp.port"):add(SPEC.port, rcs)
