// Money, months and clocks as people read them. Amounts travel in fen (分) and show in 元.

// "1,234.50" for 123450 fen; whole yuan without decimals.
function yuan (fen) {
  const value = Number(fen || 0) / 100
  const fixed = Number.isInteger(value) ? String(value) : value.toFixed(2)
  const [whole, cents] = fixed.split('.')
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return cents ? grouped + '.' + cents : grouped
}

// The fen of a typed amount in 元 ("18000", "1.8万" is not accepted: digits, one point, 2 decimals).
function fenFromYuan (text) {
  const clean = String(text || '').replace(/[,，\s元]/g, '')
  if (!/^\d{1,9}(\.\d{1,2})?$/.test(clean)) return null
  const [whole, cents = ''] = clean.split('.')
  return Number(whole) * 100 + Number((cents + '00').slice(0, 2))
}

function pad (n) {
  return n < 10 ? '0' + n : String(n)
}

// "2026-09" → the first day of that month.
function monthStart (month) {
  return month ? month + '-01' : null
}

// "2026-11" → the last day of that month, or today when the month is not over yet.
function monthEnd (month, today) {
  if (!month) return null
  const [y, m] = month.split('-').map(Number)
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate()
  const end = `${y}-${pad(m)}-${pad(last)}`
  const now = today || localToday()
  return end > now ? now : end
}

// Today in Beijing time, "YYYY-MM-DD".
function localToday (now) {
  const beijing = new Date((now || Date.now()) + 8 * 3600 * 1000)
  return `${beijing.getUTCFullYear()}-${pad(beijing.getUTCMonth() + 1)}-${pad(beijing.getUTCDate())}`
}

// "2026-09" for the picker's end value.
function thisMonth (now) {
  return localToday(now).slice(0, 7)
}

// "2026年9月" from "2026-09-01" or "2026-09".
function monthLabel (date) {
  if (!date) return ''
  const [y, m] = date.split('-')
  return `${y}年${Number(m)}月`
}

// "12月5日 14:30" from an ISO time with offset (the server sends Beijing time).
function when (iso) {
  if (!iso) return ''
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso)
  if (!m) return iso
  return `${Number(m[2])}月${Number(m[3])}日 ${m[4]}:${m[5]}`
}

function spell (minutes) {
  if (minutes < 60) return `${minutes} 分钟`
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} 小时`
  return `${Math.floor(minutes / 1440)} 天`
}

// The running clock of a case: "还剩 3 小时" or "已超时 2 天", and whether it is late.
function clock (dueIso, now) {
  if (!dueIso) return { text: '', late: false }
  const minutes = Math.round((Date.parse(dueIso) - (now || Date.now())) / 60000)
  if (minutes >= 0) return { text: '还剩 ' + spell(minutes), late: false }
  return { text: '已超时 ' + spell(-minutes), late: true }
}

// The clock that matters in a status (the same rule as the server's breach check).
const CLOCK_BY_STATUS = {
  received: ['dispatch_due_at', '分派'],
  returned: ['dispatch_due_at', '分派'],
  reopened: ['dispatch_due_at', '分派'],
  dispatched: ['accept_due_at', '接收'],
  accepted: ['resolve_due_at', '办结'],
  in_progress: ['resolve_due_at', '办结']
}

function caseClock (item, now) {
  const rule = CLOCK_BY_STATUS[item.status]
  if (!rule) return { text: '', late: false }
  const due = item[rule[0]]
  if (!due) return { text: '', late: false }
  const c = clock(due, now)
  return { text: `${rule[1]}${c.text}`, late: c.late }
}

module.exports = {
  yuan,
  fenFromYuan,
  monthStart,
  monthEnd,
  monthLabel,
  localToday,
  thisMonth,
  when,
  clock,
  caseClock
}

// The server's labels (wagedispute.models.enums), for events that carry only the value.
const STATUS_LABELS = {
  received: '已受理',
  dispatched: '已分派',
  accepted: '处置小组已接收',
  in_progress: '处置中',
  returned: '已退回工长',
  resolved: '已办结待确认',
  closed: '已结案',
  reopened: '已重新打开',
  rejected: '不予受理',
  withdrawn: '已撤回'
}

const URGENCIES = [
  { value: 'critical', label: '特急' },
  { value: 'urgent', label: '紧急' },
  { value: 'normal', label: '一般' }
]

const EVENT_KINDS = {
  status: '状态',
  urgency: '紧急程度',
  note: '处置进展',
  group: '纠纷组',
  referral: '告知去向',
  rating: '工人评价',
  breach: '超时提醒',
  evidence: '证据',
  clock_paused: '暂停计时',
  clock_resumed: '恢复计时',
  worker_message: '工人留言',
  check: '信访局核查',
  letter: '督办函',
  letter_reply: '函件回复'
}

// One audit row as a line a foreman or team member reads.
function eventLine (event) {
  const d = event.data || {}
  let text = ''
  if (event.kind === 'status') {
    text = `${STATUS_LABELS[event.from_status] || '新建'} → ${STATUS_LABELS[event.to_status] || ''}`
    if (d.reason) text += `（${d.reason}）`
  } else if (event.kind === 'urgency') {
    const label = v => (URGENCIES.find(u => u.value === v) || {}).label || v || ''
    text = `${label(d.from)} → ${label(d.to)}` + (d.reason ? `（${d.reason}）` : '')
  } else if (event.kind === 'rating') {
    text = `${d.score} 分` + (d.comment ? `：${d.comment}` : '')
  } else {
    text = d.text || d.message || d.reason || d.referral || ''
  }
  return {
    id: event.id,
    kind: EVENT_KINDS[event.kind] || event.kind,
    text,
    at: when(event.at),
    internal: !event.worker_visible
  }
}

module.exports.STATUS_LABELS = STATUS_LABELS
module.exports.URGENCIES = URGENCIES
module.exports.eventLine = eventLine
