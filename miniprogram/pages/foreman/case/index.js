// One lead: triage reasons, urgency confirmed or changed with a reason, dispatch (the suggested
// team first, a warning when nobody in the team can get a WeChat message), reject with a
// referral, merge into or split out of a dispute group, and the whole record.
const api = require('../../../request.js')
const format = require('../../../format.js')

const DISPATCHABLE = ['received', 'returned', 'reopened']
const REJECTABLE = ['received', 'returned']

Component({
  data: {
    loading: false,
    busy: false,
    error: '',
    notice: '',
    item: null,
    events: [],
    teams: [],
    urgencies: format.URGENCIES,
    urgency: '',
    urgencyReason: '',
    teamId: 0,
    suggestedId: 0,
    teamWarning: '',
    rejectReason: '',
    referral: '',
    mergeInto: '',
    canDispatch: false,
    canReject: false,
    clock: { text: '', late: false },
    amountText: '',
    groupAmountText: '',
    suggestedLabel: ''
  },
  methods: {
    onLoad (query) {
      this.number = query.number
      this.setData({ suggestedId: Number(query.suggested) || 0 })
      return this.reload()
    },
    path (action) {
      return `/api/v1/foreman/cases/${encodeURIComponent(this.number)}${action ? '/' + action : ''}`
    },
    async reload () {
      this.setData({ loading: true, error: '' })
      try {
        const [item, teams] = await Promise.all([
          api.request('GET', this.path(''), null, { role: 'foreman' }),
          api.request('GET', '/api/v1/foreman/teams?limit=100', null, { role: 'foreman' })
        ])
        this.show(item, teams.teams)
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },
    show (item, teams) {
      const suggestedId = this.data.suggestedId || (item.suggested_team ? item.suggested_team.id : 0)
      // The suggested team first, then the case's street, then the rest.
      const street = (teams.find(t => t.id === suggestedId) || {}).street_id
      const rank = t => (t.id === suggestedId ? 0 : t.street_id === street ? 1 : 2)
      const sorted = teams.slice().sort((a, b) => rank(a) - rank(b))
      const teamId = this.data.teamId || suggestedId || (sorted[0] ? sorted[0].id : 0)
      this.setData({
        loading: false,
        item,
        teams: sorted,
        suggestedId,
        teamId,
        urgency: this.data.urgency || item.urgency_confirmed || item.urgency_suggested,
        events: item.events.map(format.eventLine).reverse(),
        canDispatch: DISPATCHABLE.indexOf(item.status) >= 0,
        canReject: REJECTABLE.indexOf(item.status) >= 0,
        clock: format.caseClock(item),
        amountText: format.yuan(item.amount_owed_fen),
        groupAmountText: item.group ? format.yuan(item.group.amount_total_fen) : '',
        suggestedLabel: (format.URGENCIES.find(u => u.value === item.urgency_suggested) || {}).label || ''
      })
      this.warnAboutTeam()
    },
    warnAboutTeam () {
      const team = this.data.teams.find(t => t.id === this.data.teamId)
      const warning = team && team.notifiable_members === 0
        ? `“${team.name}”还没有成员绑定微信，分派后收不到微信提醒，请电话通知该小组。`
        : ''
      this.setData({ teamWarning: warning })
    },
    onField (e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value })
    },
    pickUrgency (e) {
      this.setData({ urgency: e.currentTarget.dataset.value })
    },
    pickTeam (e) {
      this.setData({ teamId: Number(e.currentTarget.dataset.id) })
      this.warnAboutTeam()
    },
    urgencyChange () {
      const item = this.data.item
      const reason = this.data.urgencyReason.trim()
      if (this.data.urgency !== item.urgency_suggested && !reason) {
        this.setData({ error: '紧急程度与系统建议不同，请填写原因。' })
        return null
      }
      return { urgency: this.data.urgency, reason: reason || null }
    },
    async act (action, body, done) {
      this.setData({ busy: true, error: '', notice: '' })
      try {
        const out = await api.request('POST', this.path(action), body, { role: 'foreman' })
        this.setData({ busy: false, notice: done })
        await this.reload()
        return out
      } catch (err) {
        this.setData({ busy: false, error: err.message })
        return null
      }
    },
    saveUrgency () {
      const change = this.urgencyChange()
      if (!change) return Promise.resolve(null)
      return this.act('urgency', change, '紧急程度已确认。')
    },
    dispatch () {
      const change = this.urgencyChange()
      if (!change) return Promise.resolve(null)
      const team = this.data.teams.find(t => t.id === this.data.teamId)
      const body = { team_id: this.data.teamId, urgency: change.urgency }
      if (change.reason) body.urgency_reason = change.reason
      return this.act('dispatch', body, `已分派给${team ? team.name : '处置小组'}。`)
    },
    reject () {
      const reason = this.data.rejectReason.trim()
      if (!reason) {
        this.setData({ error: '请填写不予受理的原因。' })
        return Promise.resolve(null)
      }
      const body = { reason }
      if (this.data.referral.trim()) body.referral = this.data.referral.trim()
      return this.act('reject', body, '已不予受理，并告知工人去向。')
    },
    merge () {
      const into = this.data.mergeInto.trim().toUpperCase()
      if (!into) {
        this.setData({ error: '请填写要并入的案件编号。' })
        return Promise.resolve(null)
      }
      return this.act('merge', { into }, `已并入 ${into} 所在的纠纷组。`)
    },
    split () {
      return this.act('split', {}, '已拆出，单独成组。')
    }
  }
})
